"""Import every module that defines catalog tables, so Base.metadata knows them all."""

from facesearch.store import schema  # noqa: F401
