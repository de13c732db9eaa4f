"""Persistence: tables, migrations, the batch writer (the only place that commits), queries."""
