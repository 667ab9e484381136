"""Alembic migrations for the catalog (run automatically when a gallery is opened)."""
