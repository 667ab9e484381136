"""Import every module that defines catalog tables, so Base.metadata knows them all."""

from facesearch.govern import schema as govern_schema  # noqa: F401
from facesearch.store import schema  # noqa: F401
from facesearch.victim import schema as victim_schema  # noqa: F401
from facesearch.victim import search_schema as victim_search_schema  # noqa: F401
