"""The REST API under ``/api/v1`` (FastAPI). Build it with :func:`.app.create_app`."""
