"""execution-service: paper-trading order execution for Redis/PostgreSQL bot pipelines."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("execution-service")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

SERVICE_NAME = "execution_service"
