# execution-service: the same `pip install .` and `execution-service run` the tests exercise.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app execution \
    && mkdir -p /app/data && chown execution /app/data

USER execution
EXPOSE 8003
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["execution-service", "healthcheck"]
CMD ["execution-service", "run"]
