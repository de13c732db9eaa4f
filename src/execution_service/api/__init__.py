"""The HTTP API: FastAPI app factory, one route module per resource."""
