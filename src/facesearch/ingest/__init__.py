"""Ingest: turn folders, archives and manifests of photos into searchable faces."""
