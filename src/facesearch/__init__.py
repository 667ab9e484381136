"""facesearch: a face search engine for accountable investigations."""

__version__ = "0.1.0"
