"""The names the interfaces (CLI, HTTP API) use from the layers below the application:
errors they turn into exit codes and status codes, the typed results they show, and the few
helpers they format them with. ``serve/`` and ``cli/`` import these from here (and from
``facesearch.settings`` and ``facesearch.errors``), never from govern, search, store, engine
or ingest themselves."""

from facesearch.app.context import LOCAL_READS
from facesearch.app.model_migration import MigrationError, MigrationProgress, MigrationStatus
from facesearch.app.models import (
    AddedModel,
    ModelView,
    SmokeResult,
    SmokeTestFailed,
    UnknownModelError,
)
from facesearch.engine.formats import ACCEPTED_LABEL, sniff_mime
from facesearch.govern import checkpoint
from facesearch.govern.actor import AuthMethod
from facesearch.govern.annual import AnnualReport, year_span
from facesearch.govern.audit import VerifyResult, as_utc
from facesearch.govern.audit_browse import EntryFilter
from facesearch.govern.authorisations import KINDS as AUTHORISATION_KINDS
from facesearch.govern.authorisations import MAX_SCAN, AuthorisationView, NewAuthorisation
from facesearch.govern.cases import CaseSummary, case_number_problem
from facesearch.govern.collection_basis import BasisView, NewBasis
from facesearch.govern.disclosure import Bundle, verify_bundle
from facesearch.govern.errors import (
    AuthenticationError,
    NotVisibleError,
    PolicyError,
    RefusedError,
)
from facesearch.govern.incidents import IncidentView, NewIncident, SuspensionView
from facesearch.govern.multisearch import MultiSearchOutcome, ProbeScores, ProbeView
from facesearch.govern.outcomes import KIND_LABELS, KINDS, OutcomeView
from facesearch.govern.policy import Policy, load_policy
from facesearch.govern.profiles import PROFILES, Profile, RequirementStatus
from facesearch.govern.receipts import ReceiptView, verify_receipt
from facesearch.govern.report import fmt_time
from facesearch.govern.searches import (
    LEADS_STATEMENT,
    CandidateView,
    QuotaExceededError,
    ReviewDecision,
    ReviewView,
    SearchOutcome,
    VerificationView,
)
from facesearch.govern.standing import AlertView, StandingView
from facesearch.govern.trainings import TrainingView
from facesearch.govern.users import Role
from facesearch.govern.verifications import STATUS_LABELS, Identification
from facesearch.ingest.archives import (
    ArchiveLimits,
    ArchiveRefusedError,
    UnreadableArchiveError,
    check_archive,
)
from facesearch.ingest.sources import is_archive
from facesearch.models.card import CardError
from facesearch.search.backends import Backends
from facesearch.search.multiprobe import MAX_PROBES
from facesearch.store.catalog import SearchFilters

__all__ = [
    "ACCEPTED_LABEL",
    "AUTHORISATION_KINDS",
    "KINDS",
    "KIND_LABELS",
    "LEADS_STATEMENT",
    "LOCAL_READS",
    "MAX_PROBES",
    "MAX_SCAN",
    "PROFILES",
    "STATUS_LABELS",
    "AddedModel",
    "AlertView",
    "AnnualReport",
    "ArchiveLimits",
    "ArchiveRefusedError",
    "AuthMethod",
    "AuthenticationError",
    "AuthorisationView",
    "Backends",
    "BasisView",
    "Bundle",
    "CandidateView",
    "CardError",
    "CaseSummary",
    "EntryFilter",
    "Identification",
    "IncidentView",
    "MigrationError",
    "MigrationProgress",
    "MigrationStatus",
    "ModelView",
    "MultiSearchOutcome",
    "NewAuthorisation",
    "NewBasis",
    "NewIncident",
    "NotVisibleError",
    "OutcomeView",
    "Policy",
    "PolicyError",
    "ProbeScores",
    "ProbeView",
    "Profile",
    "QuotaExceededError",
    "ReceiptView",
    "RefusedError",
    "RequirementStatus",
    "ReviewDecision",
    "ReviewView",
    "Role",
    "SearchFilters",
    "SearchOutcome",
    "SmokeResult",
    "SmokeTestFailed",
    "StandingView",
    "SuspensionView",
    "TrainingView",
    "UnknownModelError",
    "UnreadableArchiveError",
    "VerificationView",
    "VerifyResult",
    "as_utc",
    "case_number_problem",
    "check_archive",
    "checkpoint",
    "fmt_time",
    "is_archive",
    "load_policy",
    "sniff_mime",
    "verify_bundle",
    "verify_receipt",
    "year_span",
]
