"""The ``facesearch`` command line: a thin layer over the library."""

from facesearch.cli.app import app, main

__all__ = ["app", "main"]
