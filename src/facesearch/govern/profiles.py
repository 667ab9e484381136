"""Jurisdiction profiles: what the rules of each jurisdiction require of an installation.

A profile is chosen in the policy (``[profile] name = "eu-ai-act"``; default ``"custom"``:
nothing beyond the policy itself). It is data: a :class:`Profile` turns on gates (a current
training before reviews and verifications; a recorded lawful basis before a collection's faces
are searched) and lists :class:`Requirement` s, each naming the rule it implements, what
facesearch does for it (a gate, a field, a log or a report, or the agency's own job) and a check
over the installation's state (:class:`InstallationState`) that says whether it is met and, if
not, what to do. ``facesearch policy validate``, ``POST /policy/validate`` and
``GET /policy/requirements`` list them (:func:`evaluate`).

The profiles' ``[authorisation]`` expectations (a policy section of its own) are checked when
the policy has one (``required`` and ``urgent_hours``); without it the requirement is not met.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from facesearch.govern.compliance_schema import CollectionBasis, Training
from facesearch.govern.policy import PROFILE_NAMES, Policy
from facesearch.govern.schema import User
from facesearch.govern.users import Role, has_role
from facesearch.store.schema import Collection

BASIS_FIELDS = ("legal_basis", "source_attestation", "dpia_reference", "retention_rule")
BASIS_LABELS = {
    "legal_basis": "legal basis",
    "source_attestation": "source attestation",
    "dpia_reference": "DPIA/PIA reference",
    "retention_rule": "retention rule",
}


@dataclass(frozen=True)
class InstallationState:
    """What the checks look at: the policy, whether a checkpoint signing key is configured,
    the reviewers without a current training, and the collections whose basis is incomplete."""

    policy: Policy
    audit_key: bool
    untrained: tuple[str, ...] = ()
    incomplete_bases: tuple[str, ...] = ()

    @property
    def authorisation(self) -> tuple[str, int] | None:
        """(required, urgent_hours) of the policy's ``[authorisation]`` section, if any."""
        auth = getattr(self.policy, "authorisation", None)
        if auth is None:
            return None
        return str(getattr(auth, "required", "no")), int(getattr(auth, "urgent_hours", 0) or 0)


Check = Callable[[InstallationState], str]  # "" when met, else what to do


@dataclass(frozen=True)
class Requirement:
    id: str
    rule: str  # the article or section it implements
    does: str  # what facesearch does for it
    kind: str  # gate, field, log, report, setting, agency
    check: Check | None = None  # None: the agency's own job (facesearch cannot check it)


@dataclass(frozen=True)
class RequirementStatus:
    id: str
    rule: str
    does: str
    kind: str
    met: bool | None  # None: the agency's job
    todo: str


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    training_required: bool
    basis_fields: tuple[str, ...]  # what a collection's basis must hold before a search
    requirements: tuple[Requirement, ...]


# --- the checks ------------------------------------------------------------------------------


def _audit_key(s: InstallationState) -> str:
    if s.policy.audit is None or not s.audit_key:
        return (
            "sign the audit log: add an [audit] section to the policy and set "
            "FACESEARCH_AUDIT_KEY (facesearch audit keygen)"
        )
    return ""


def _verifications(n: int) -> Check:
    def check(s: InstallationState) -> str:
        got = s.policy.review.verifications_required
        return "" if got >= n else f"set [review] verifications_required = {n} (now {got})"

    return check


def _trained(s: InstallationState) -> str:
    if s.untrained:
        return "record a current training for: " + ", ".join(s.untrained)
    return ""


def _bases(s: InstallationState) -> str:
    if s.incomplete_bases:
        return "record the lawful basis of the collections: " + ", ".join(s.incomplete_bases)
    return ""


def _authorisation(*allowed: str, hours: int = 0) -> Check:
    def check(s: InstallationState) -> str:
        want = " or ".join(allowed)
        found = s.authorisation
        if found is None or found[0] not in allowed:
            return f"set [authorisation] required = {want}"
        if hours and found[0] == "before_or_urgent" and not 0 < found[1] <= hours:
            return f"set [authorisation] urgent_hours to at most {hours}"
        return ""

    return check


def _no_standing(s: InstallationState) -> str:
    if s.policy.standing.allowed:
        return "set [standing] allowed = false (ongoing searching needs a warrant)"
    return ""


def _standing_review(days: int) -> Check:
    def check(s: InstallationState) -> str:
        st = s.policy.standing
        if st.allowed and st.review_days > days:
            return f"set [standing] review_days to at most {days} (now {st.review_days})"
        return ""

    return check


def _probe_quality(minimum: float) -> Check:
    def check(s: InstallationState) -> str:
        got = s.policy.search.min_probe_quality
        return "" if got >= minimum else f"set [search] min_probe_quality >= {minimum}"

    return check


def _approval(s: InstallationState) -> str:
    loose = [p.key for p in s.policy.purposes if not p.requires_approval]
    if loose:
        return "make every purpose require a supervisor's approval: " + ", ".join(loose)
    return ""


def _always(_s: InstallationState) -> str:
    return ""


# --- the profiles ----------------------------------------------------------------------------

_LOGS = "every search, refusal, review and verification in the hash-chained audit log"
_REPORT = "the oversight report (facesearch oversight report): searches, outcomes, anomalies"
_TRAIN = "reviews and verifications refused without a current training (user training add)"
_BASIS = "searches refused over a collection without its recorded basis (collection basis set)"

PROFILES: dict[str, Profile] = {
    "custom": Profile("custom", "custom: the policy alone", False, (), ()),
    "eu-ai-act": Profile(
        "eu-ai-act",
        "EU AI Act (post-remote biometric identification, deployers)",
        True,
        ("legal_basis", "dpia_reference"),
        (
            Requirement("eu-logs", "Art. 12(3), 26(6)", _LOGS + ", signed", "log", _audit_key),
            Requirement(
                "eu-two-person",
                "Art. 14(5)",
                "no identification confirmed until two people verified it",
                "setting",
                _verifications(2),
            ),
            Requirement(
                "eu-authorisation",
                "Art. 26(10)",
                "search authorised before use, or within 48 h when urgent",
                "gate",
                _authorisation("before_search", "before_or_urgent", hours=48),
            ),
            Requirement("eu-annual-report", "Art. 26(10)", _REPORT, "report", _always),
            Requirement("eu-trained", "Art. 26(2)", _TRAIN, "gate", _trained),
            Requirement(
                "eu-suspend",
                "Art. 26(5)",
                "suspension of all searching and the incident register",
                "gate",
                _always,
            ),
            Requirement(
                "eu-basis", "Art. 26(10), LED Art. 8, DPIA Art. 26(9)", _BASIS, "field", _bases
            ),
            Requirement(
                "eu-register", "Art. 49, 26(8)", "registration in the EU database", "agency"
            ),
        ),
    ),
    "canada": Profile(
        "canada",
        "Canada (OPC/FPT 2022 guidance, Ontario IPC 2024)",
        True,
        ("legal_basis", "dpia_reference", "retention_rule"),
        (
            Requirement(
                "ca-lawful-authority", "OPC 2022: lawful authority, PIA", _BASIS, "field", _bases
            ),
            Requirement(
                "ca-serious-offences",
                "OPC 2022: necessity and proportionality",
                "every purpose needs a supervisor's approval (purposes: serious offences only)",
                "setting",
                _approval,
            ),
            Requirement(
                "ca-probe-quality",
                "OPC 2022: probe quality standards",
                "probes below the policy's quality refused",
                "gate",
                _probe_quality(0.3),
            ),
            Requirement("ca-human-review", "OPC 2022: human review", _TRAIN, "gate", _trained),
            Requirement(
                "ca-purge",
                "OPC 2022, IPC 2024: purge records of people not convicted",
                "each collection's retention rule (purge) recorded; facesearch purge applies it",
                "field",
                _bases,
            ),
            Requirement("ca-logs", "OPC 2022: accountability", _LOGS, "log", _audit_key),
            Requirement(
                "ca-public-report", "IPC 2024: public reporting", _REPORT, "report", _always
            ),
        ),
    ),
    "uk": Profile(
        "uk",
        "United Kingdom (ICO opinion, College of Policing APP)",
        True,
        ("legal_basis", "source_attestation", "dpia_reference"),
        (
            Requirement("uk-dpia", "UK GDPR/DPA 2018 s.64: DPIA", _BASIS, "field", _bases),
            Requirement("uk-apd", "DPA 2018 s.42: appropriate policy document", "", "agency"),
            Requirement(
                "uk-source",
                "College of Policing APP: source of every gallery image",
                "provenance of every image kept at ingest; source attestation per collection",
                "field",
                _bases,
            ),
            Requirement(
                "uk-watchlist",
                "ICO opinion: watch lists tied to an objective and reviewed",
                "standing queries carry an objective and a review date",
                "setting",
                _standing_review(7),
            ),
            Requirement(
                "uk-corroboration",
                "College of Policing APP: corroboration before action",
                "no identification confirmed until two people verified it",
                "setting",
                _verifications(2),
            ),
            Requirement(
                "uk-trained", "College of Policing APP: trained users", _TRAIN, "gate", _trained
            ),
            Requirement("uk-logs", "DPA 2018 s.62: logging", _LOGS, "log", _audit_key),
        ),
    ),
    "us-washington": Profile(
        "us-washington",
        "US, Washington (RCW 43.386)",
        True,
        ("legal_basis",),
        (
            Requirement(
                "wa-accountability-report",
                "RCW 43.386.020",
                "the model and its version recorded with every search",
                "agency",
            ),
            Requirement(
                "wa-testing",
                "RCW 43.386.030",
                "operational testing with facesearch evaluate",
                "agency",
            ),
            Requirement(
                "wa-human-review",
                "RCW 43.386.050",
                "meaningful human review: two people before a confirmed identification",
                "setting",
                _verifications(2),
            ),
            Requirement("wa-trained", "RCW 43.386.070", _TRAIN, "gate", _trained),
            Requirement("wa-audit", "RCW 43.386.060", _LOGS, "log", _audit_key),
            Requirement(
                "wa-warrant",
                "RCW 43.386.080",
                "no standing (ongoing) searching without a warrant",
                "setting",
                _no_standing,
            ),
            Requirement(
                "wa-disclosure", "RCW 43.386.080(5)", "case report for disclosure", "agency"
            ),
            Requirement("wa-annual", "RCW 43.386.110", _REPORT, "report", _always),
            Requirement("wa-basis", "RCW 43.386.020", _BASIS, "field", _bases),
        ),
    ),
    "us-montana": Profile(
        "us-montana",
        "US, Montana (MCA 44-15)",
        False,
        ("legal_basis",),
        (
            Requirement(
                "mt-warrant",
                "MCA 44-15-105",
                "no standing (ongoing) searching without a warrant",
                "setting",
                _no_standing,
            ),
            Requirement(
                "mt-serious-crimes",
                "MCA 44-15-106",
                "every purpose needs a supervisor's approval (serious crimes list)",
                "setting",
                _approval,
            ),
            Requirement(
                "mt-human-review",
                "MCA 44-15-106",
                "two people before a confirmed identification",
                "setting",
                _verifications(2),
            ),
            Requirement("mt-audit", "MCA 44-15-107", _LOGS, "log", _audit_key),
            Requirement("mt-basis", "MCA 44-15-105", _BASIS, "field", _bases),
            Requirement("mt-annual", "MCA 44-15-108", _REPORT, "report", _always),
        ),
    ),
}
assert set(PROFILES) == set(PROFILE_NAMES)


def profile_of(policy: Policy) -> Profile:
    return PROFILES[policy.profile.name]


# --- the installation's state ----------------------------------------------------------------


def is_current(t: Training, today: date) -> bool:
    return t.completed_on <= today and (t.expires_on is None or t.expires_on >= today)


def untrained_users(session: Session, today: date) -> list[str]:
    """Active investigators and supervisors (who review and verify) without a current
    training."""
    users = session.scalars(select(User).where(User.disabled_at.is_(None))).all()
    current = {t.user_id for t in session.scalars(select(Training)).all() if is_current(t, today)}
    return sorted(
        u.username
        for u in users
        if (has_role(u, Role.INVESTIGATOR) or has_role(u, Role.SUPERVISOR)) and u.id not in current
    )


def missing_basis(row: CollectionBasis | None, fields: tuple[str, ...]) -> list[str]:
    """The fields of ``fields`` that a collection's basis lacks (all of them without one)."""
    if row is None:
        return list(fields)
    return [f for f in fields if not str(getattr(row, f) or "").strip()]


def incomplete_collections(session: Session, fields: tuple[str, ...]) -> list[str]:
    if not fields:
        return []
    names = session.scalars(select(Collection.name).order_by(Collection.name)).all()
    rows = {r.collection: r for r in session.scalars(select(CollectionBasis)).all()}
    return [n for n in names if missing_basis(rows.get(n), fields)]


def installation_state(
    session: Session, policy: Policy, audit_key: bool, today: date
) -> InstallationState:
    prof = profile_of(policy)
    return InstallationState(
        policy,
        audit_key,
        tuple(untrained_users(session, today)) if prof.training_required else (),
        tuple(incomplete_collections(session, prof.basis_fields)),
    )


def evaluate(profile: Profile, state: InstallationState) -> list[RequirementStatus]:
    """Each requirement of ``profile``, met or not (None: the agency's job), with what to do."""
    out = []
    for r in profile.requirements:
        if r.check is None:
            out.append(RequirementStatus(r.id, r.rule, r.does, r.kind, None, "the agency's job"))
            continue
        todo = r.check(state)
        out.append(RequirementStatus(r.id, r.rule, r.does, r.kind, not todo, todo))
    return out


def policy_gaps(policy: Policy) -> list[RequirementStatus]:
    """The requirements of ``policy``'s profile that the policy text itself does not meet
    (its settings: verifications, authorisation, standing queries, probe quality, approval),
    whatever the installation's state (trainings, bases and the signing key are met later,
    and gated when used). A policy naming a profile is not put in force with any of these."""
    state = InstallationState(policy, audit_key=True)
    return [s for s in evaluate(profile_of(policy), state) if s.met is False]
