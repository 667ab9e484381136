"""Governance: who may search whom, why, and proof afterwards of what was done.

* :mod:`.policy` - the policy file (purposes, approval, retention, limits), parsed whole.
* :mod:`.users` - users, roles, argon2id passwords, API tokens.
* :mod:`.wellbeing` - each user's wellbeing setting (greyscale, blur outside the face).
* :mod:`.cases` - cases: the only context a search may run in.
* :mod:`.searches` - governed searches and the review of their candidates.
* :mod:`.audit` - the append-only, hash-chained audit log and its verification.
* :mod:`.oversight` - oversight figures and anomaly flags from the audit log.
* :mod:`.report` - case reports (HTML, PDF): the chain of custody, with pictures
  (:mod:`.report_export`, :mod:`.report_html`, :mod:`.report_pdf`).
* :mod:`.retention` - purging probes and results after a case's retention period.
* :mod:`.suppression` - removal on request and suppression of a person's face.
* :mod:`.crypto` - optional AES-GCM encryption at rest.
* :mod:`.service` - :class:`Governance`, the facade everything goes through.

Importing this package registers its tables on ``facesearch.store.schema.Base``.
"""

from facesearch.errors import EncryptionError
from facesearch.govern import outcomes as _outcomes  # noqa: F401 (registers gov_case_outcomes)
from facesearch.govern.audit import AuditLog, Entry, VerifyResult, canonical_json, verify
from facesearch.govern.cases import CaseSummary
from facesearch.govern.errors import (
    AuthenticationError,
    GovernanceError,
    PolicyError,
    RefusedError,
)
from facesearch.govern.governance import Governance
from facesearch.govern.oversight import Anomaly, OversightReport
from facesearch.govern.policy import Policy, Purpose, default_policy, load_policy, parse_policy
from facesearch.govern.retention import PurgeResult
from facesearch.govern.searches import (
    LEADS_STATEMENT,
    CandidateView,
    ReviewDecision,
    ReviewView,
    SearchOutcome,
)
from facesearch.govern.suppression import (
    FaceFinder,
    PreviewMatch,
    SuppressionMatcher,
    catalog_finder,
    index_finder,
)
from facesearch.govern.users import Role
from facesearch.govern.wellbeing import Wellbeing
from facesearch.store.crypto import Cipher, decrypt, encrypt, generate_key

__all__ = [
    "LEADS_STATEMENT",
    "Anomaly",
    "AuditLog",
    "AuthenticationError",
    "CandidateView",
    "CaseSummary",
    "Cipher",
    "EncryptionError",
    "Entry",
    "FaceFinder",
    "Governance",
    "GovernanceError",
    "OversightReport",
    "Policy",
    "PolicyError",
    "PreviewMatch",
    "PurgeResult",
    "Purpose",
    "RefusedError",
    "ReviewDecision",
    "ReviewView",
    "Role",
    "SearchOutcome",
    "SuppressionMatcher",
    "VerifyResult",
    "Wellbeing",
    "canonical_json",
    "catalog_finder",
    "decrypt",
    "default_policy",
    "encrypt",
    "generate_key",
    "index_finder",
    "load_policy",
    "parse_policy",
    "verify",
]
