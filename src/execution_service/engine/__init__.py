"""The paper exchange: synchronous and deterministic, knows nothing of Redis or SQL."""
