"""Import every module that defines catalog tables, so Base.metadata knows them all."""

from facesearch.govern import authorisations_schema as govern_authorisations_schema  # noqa: F401
from facesearch.govern import compliance_schema as govern_compliance_schema  # noqa: F401
from facesearch.govern import moves_schema as govern_moves_schema  # noqa: F401
from facesearch.govern import multisearch_schema as govern_multisearch_schema  # noqa: F401
from facesearch.govern import outcomes as govern_outcomes  # noqa: F401
from facesearch.govern import overrides_schema as govern_overrides_schema  # noqa: F401
from facesearch.govern import schema as govern_schema  # noqa: F401
from facesearch.govern import web_sessions as govern_web_sessions  # noqa: F401
from facesearch.govern import wellbeing as govern_wellbeing  # noqa: F401
from facesearch.media import moves_schema as media_moves_schema  # noqa: F401
from facesearch.media import schema as media_schema  # noqa: F401
from facesearch.store import jobs as store_jobs  # noqa: F401
from facesearch.store import schema  # noqa: F401
