"""The governance policy: a TOML file parsed whole into frozen dataclasses.

The file is read completely, every field is validated (all problems are collected, each
naming its field, e.g. ``search.max_candidates``), and only then is a :class:`Policy` built.
A policy that fails validation is never partly used. Every field is required and unknown
fields are errors, so a typo cannot silently fall back to a default. The one exception is the
``[access]`` table (web sessions and search quotas), added later: a policy without it gets
:data:`DEFAULT_ACCESS`, and ``describe()`` says so; within the table every field is required.
Likewise ``[review]`` (how many people must examine a possible match): without it,
:data:`DEFAULT_REVIEW` (two people); and ``[wellbeing]`` (``force_blur``: nobody may turn off
the blur outside the face): without it, :data:`DEFAULT_WELLBEING` (not forced); and
``[profile]`` (the jurisdiction profile): without it, "custom"; and ``[accuracy]``
(``disparity_factor``, how much worse than the best group a group's error rate may be before
``facesearch eval --groups`` flags it): without it, 1.5.

See ``default_policy.toml`` beside this module for the format.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from facesearch.govern.errors import PolicyError

DEFAULT_POLICY_RESOURCE = "default_policy.toml"
_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Purpose:
    key: str  # short identifier users type, e.g. "threat-to-life"
    name: str  # the purpose in full, as written in the policy
    requires_approval: bool  # a supervisor (not the requester) must approve the case


@dataclass(frozen=True)
class SearchPolicy:
    max_candidates: int
    min_probe_quality: float
    bands: tuple[str, ...]  # strongest first
    min_band_shown: str
    # a supervisor of the case may let one probe face below min_probe_quality be searched
    # (govern/overrides.py); optional in a policy file, on when absent
    quality_override: bool = True

    def band_shown(self, band: str) -> bool:
        """True if candidates in ``band`` may be shown (unknown bands are never shown)."""
        if band not in self.bands:
            return False
        return self.bands.index(band) <= self.bands.index(self.min_band_shown)


@dataclass(frozen=True)
class RetentionPolicy:
    probe_days_after_close: int
    results_days_after_close: int


@dataclass(frozen=True)
class OversightPolicy:
    max_searches_per_case: int
    max_searches_per_case_per_day: int


@dataclass(frozen=True)
class SuppressionPolicy:
    threshold: float


@dataclass(frozen=True)
class AuditPolicy:
    """Automatic signed checkpoints of the audit log (the key is never in the policy: it
    comes from ``FACESEARCH_AUDIT_KEY`` or ``FACESEARCH_AUDIT_KEY_PEM``)."""

    checkpoint_folder: str  # relative paths are relative to the policy file's folder
    checkpoint_every_entries: int  # 0: not by count
    checkpoint_every_minutes: int  # 0: not by time


@dataclass(frozen=True)
class AccessPolicy:
    """Web sessions and per-user search quotas (the server enforces them)."""

    session_idle_minutes: int  # a session unused this long ends
    session_absolute_hours: int  # a session ends this long after login, used or not
    searches_per_user_per_hour: int
    searches_per_user_per_day: int


@dataclass(frozen=True)
class ReviewPolicy:
    """How many people must examine a possible match before it is a confirmed
    identification: the reviewer who marked it plus ``verifications_required - 1``
    independent verifiers (EU AI Act Art. 14(5): two). 1 means the review alone suffices."""

    verifications_required: int


@dataclass(frozen=True)
class StandingPolicy:
    """Standing queries ("search again when the gallery grows"): whether they are allowed, the
    longest a query may run before a supervisor renews it, and the default review date."""

    allowed: bool = True
    max_days: int = 180
    review_days: int = 30


@dataclass(frozen=True)
class WellbeingPolicy:
    """The minimum of every user's wellbeing setting: with ``force_blur`` the pictures are
    always blurred outside the face (a user cannot turn it off)."""

    force_blur: bool


@dataclass(frozen=True)
class AuthorisationPolicy:
    """Whether a search needs a recorded authorisation (``facesearch.govern.authorisations``):
    ``required`` is "no", "before_search" or "before_or_urgent" (urgent use allowed, the
    authorisation recorded within ``urgent_hours``); ``types``: the kinds that may be recorded."""

    required: str = "no"
    urgent_hours: int = 48
    types: tuple[str, ...] = ("judicial_warrant", "administrative", "urgent", "not_required")


@dataclass(frozen=True)
class ProfilePolicy:
    """The jurisdiction profile (``[profile] name``): which fields, gates and reports its
    rules require (``facesearch.govern.profiles``). "custom": nothing beyond the policy."""

    name: str = "custom"


@dataclass(frozen=True)
class AccuracyPolicy:
    """How accuracy by group is judged (``facesearch eval --groups``): a group is flagged when
    its FNMR or FMR is more than ``disparity_factor`` times the best group's."""

    disparity_factor: float = 1.5


PROFILE_NAMES = ("custom", "eu-ai-act", "canada", "uk", "us-washington", "us-montana")
DEFAULT_PROFILE = ProfilePolicy()
DEFAULT_ACCURACY = AccuracyPolicy()
MAX_DISPARITY_FACTOR = 100.0
DEFAULT_WELLBEING = WellbeingPolicy(False)
DEFAULT_AUTHORISATION = AuthorisationPolicy()
DEFAULT_ACCESS = AccessPolicy(30, 12, 60, 300)
DEFAULT_STANDING = StandingPolicy()
DEFAULT_REVIEW = ReviewPolicy(2)
MAX_VERIFICATIONS_REQUIRED = 5
_ACCESS_FIELDS = {
    "session_idle_minutes",
    "session_absolute_hours",
    "searches_per_user_per_hour",
    "searches_per_user_per_day",
}


@dataclass(frozen=True)
class Policy:
    version: int
    purposes: tuple[Purpose, ...]
    search: SearchPolicy
    retention: RetentionPolicy
    oversight: OversightPolicy
    suppression: SuppressionPolicy
    source: str  # the file it came from
    text: str  # the file's text, as read
    sha256: str  # of the text (UTF-8)
    audit: AuditPolicy | None = None  # the optional [audit] section
    access: AccessPolicy = DEFAULT_ACCESS
    review: ReviewPolicy = DEFAULT_REVIEW
    standing: StandingPolicy = DEFAULT_STANDING
    wellbeing: WellbeingPolicy = DEFAULT_WELLBEING
    authorisation: AuthorisationPolicy = DEFAULT_AUTHORISATION
    profile: ProfilePolicy = DEFAULT_PROFILE
    accuracy: AccuracyPolicy = DEFAULT_ACCURACY

    def purpose(self, key_or_name: str) -> Purpose | None:
        """The purpose with this key or full name, or None if the policy does not allow it."""
        wanted = key_or_name.strip()
        for p in self.purposes:
            if wanted in (p.key, p.name):
                return p
        return None

    def describe(self) -> str:
        """A readable summary of the policy in force."""
        lines = [f"policy {self.source} (sha256 {self.sha256})", "purposes:"]
        for p in self.purposes:
            approval = "supervisor approval required" if p.requires_approval else "no approval"
            lines.append(f"  {p.key}: {p.name} ({approval})")
        s, r, o = self.search, self.retention, self.oversight
        override = "with a supervisor's grant" if s.quality_override else "forbidden"
        lines += [
            f"search: at most {s.max_candidates} candidates; probe quality >= "
            f"{s.min_probe_quality}; bands {', '.join(s.bands)}; shown down to "
            f"'{s.min_band_shown}'; quality overrides {override}",
            f"retention: probes {r.probe_days_after_close} days and results "
            f"{r.results_days_after_close} days after a case is closed",
            f"oversight: flag > {o.max_searches_per_case} searches per case in a period or > "
            f"{o.max_searches_per_case_per_day} per case per day",
            f"suppression: similarity threshold {self.suppression.threshold}",
            f"access: sessions end after {self.access.session_idle_minutes} idle minutes or "
            f"{self.access.session_absolute_hours} hours; at most "
            f"{self.access.searches_per_user_per_hour} searches per user per hour and "
            f"{self.access.searches_per_user_per_day} per day",
            f"review: a possible match is a confirmed identification once "
            f"{self.review.verifications_required} people have examined it (the reviewer and "
            f"{self.review.verifications_required - 1} independent verifier(s))",
        ]
        if self.profile.name != "custom":
            lines.append(
                f"profile: {self.profile.name} (facesearch policy validate lists its rules)"
            )
        if self.accuracy != DEFAULT_ACCURACY:
            lines.append(
                f"accuracy: a group is flagged when its error rate is more than "
                f"{self.accuracy.disparity_factor:g}x the best group's"
            )
        if self.wellbeing.force_blur:
            lines.append("wellbeing: pictures are always blurred outside the face")
        if self.authorisation.required != "no":
            au = self.authorisation
            lines.append(
                f"authorisation: required {au.required.replace('_', ' ')}; urgent use "
                f"{au.urgent_hours} hours; kinds {', '.join(au.types)}"
            )
        if self.audit is not None:
            a = self.audit
            lines.append(
                f"audit: signed checkpoints to {a.checkpoint_folder} every "
                f"{a.checkpoint_every_entries or '-'} entries / "
                f"{a.checkpoint_every_minutes or '-'} minutes"
            )
        return "\n".join(lines)


class _Checker:
    """Collects problems while reading a parsed TOML document."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def bad(self, field: str, message: str) -> None:
        self.problems.append((field, message))

    def table(
        self,
        doc: dict[str, Any],
        name: str,
        allowed: set[str],
        optional: set[str] | None = None,
    ) -> dict[str, Any]:
        value = doc.get(name)
        if value is None:
            self.bad(name, "section is missing")
            return {}
        if not isinstance(value, dict):
            self.bad(name, f"must be a table ([{name}]), got {type(value).__name__}")
            return {}
        self.unknown(value, name, allowed)
        if not value:  # the callers skip an empty table's fields: each is missing
            for key in sorted(allowed - (optional or set())):
                self.bad(_join(name, key), "is missing")
        return value

    def unknown(self, table: dict[str, Any], prefix: str, allowed: set[str]) -> None:
        for key in sorted(set(table) - allowed):
            self.bad(_join(prefix, key), "unknown field (typo?)")

    def int_(self, t: dict[str, Any], prefix: str, key: str, minimum: int) -> int:
        field = _join(prefix, key)
        if key not in t:
            self.bad(field, "is missing")
            return minimum
        v = t[key]
        if isinstance(v, bool) or not isinstance(v, int):
            self.bad(field, f"must be an integer, got {v!r}")
            return minimum
        if v < minimum:
            self.bad(field, f"must be at least {minimum}, got {v}")
        return v

    def float_(self, t: dict[str, Any], prefix: str, key: str, lo: float, hi: float) -> float:
        field = _join(prefix, key)
        if key not in t:
            self.bad(field, "is missing")
            return lo
        v = t[key]
        if isinstance(v, bool) or not isinstance(v, int | float):
            self.bad(field, f"must be a number, got {v!r}")
            return lo
        if not lo <= float(v) <= hi:
            self.bad(field, f"must be between {lo} and {hi}, got {v}")
        return float(v)

    def bool_(self, t: dict[str, Any], prefix: str, key: str) -> bool:
        field = _join(prefix, key)
        if key not in t:
            self.bad(field, "is missing")
            return True
        v = t[key]
        if not isinstance(v, bool):
            self.bad(field, f"must be true or false, got {v!r}")
            return True
        return v

    def str_(self, t: dict[str, Any], prefix: str, key: str) -> str:
        field = _join(prefix, key)
        if key not in t:
            self.bad(field, "is missing")
            return ""
        v = t[key]
        if not isinstance(v, str) or not v.strip():
            self.bad(field, f"must be a non-empty string, got {v!r}")
            return ""
        return v.strip()


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def parse_policy(text: str, source: str = "<string>") -> Policy:
    """Parse and validate a policy; raises :class:`PolicyError` listing every problem."""
    try:
        doc = tomllib.loads(text)
    # ValueError: TOMLDecodeError, and integers over 4,300 digits; RecursionError: deep nesting
    except (ValueError, RecursionError) as exc:
        raise PolicyError(source, [("", f"not valid TOML: {exc}")]) from None
    c = _Checker()
    c.unknown(
        doc,
        "",
        {
            "version",
            "purposes",
            "search",
            "retention",
            "oversight",
            "suppression",
            "audit",
            "access",
            "review",
            "standing",
            "wellbeing",
            "authorisation",
            "profile",
            "accuracy",
        },
    )

    version = c.int_(doc, "", "version", 1)
    if "version" in doc and version != 1:
        c.bad("version", f"only version 1 is understood, got {version!r}")

    purposes: list[Purpose] = []
    raw_purposes = doc.get("purposes")
    if raw_purposes is None:
        c.bad("purposes", "is missing: list at least one [[purposes]]")
    elif not isinstance(raw_purposes, list) or not all(isinstance(p, dict) for p in raw_purposes):
        c.bad("purposes", "must be an array of tables ([[purposes]])")
    elif not raw_purposes:
        c.bad("purposes", "must list at least one purpose")
    else:
        seen: set[str] = set()
        for i, p in enumerate(raw_purposes):
            prefix = f"purposes[{i}]"
            c.unknown(p, prefix, {"key", "name", "requires_approval"})
            key = c.str_(p, prefix, "key")
            if key and not _KEY_RE.match(key):
                c.bad(f"{prefix}.key", f"use lower-case letters, digits, '-' or '_', got {key!r}")
            name = c.str_(p, prefix, "name")
            approval = c.bool_(p, prefix, "requires_approval")
            for ident, what in ((key, "key"), (name, "name")):
                if ident and ident in seen:
                    c.bad(f"{prefix}.{what}", f"duplicate purpose {what} {ident!r}")
                seen.add(ident)
            purposes.append(Purpose(key=key, name=name, requires_approval=approval))

    s = c.table(
        doc,
        "search",
        {"max_candidates", "min_probe_quality", "bands", "min_band_shown", "quality_override"},
        optional={"quality_override"},
    )
    quality_override = c.bool_(s, "search", "quality_override") if "quality_override" in s else True
    max_candidates = c.int_(s, "search", "max_candidates", 1) if s else 1
    min_quality = c.float_(s, "search", "min_probe_quality", 0.0, 1.0) if s else 0.0
    bands: tuple[str, ...] = ()
    min_band = ""
    if s:
        raw_bands = s.get("bands")
        if raw_bands is None:
            c.bad("search.bands", "is missing")
        elif (
            not isinstance(raw_bands, list)
            or not raw_bands
            or not all(isinstance(b, str) and b.strip() for b in raw_bands)
        ):
            c.bad("search.bands", f"must be a non-empty list of band names, got {raw_bands!r}")
        elif len(set(raw_bands)) != len(raw_bands):
            c.bad("search.bands", f"lists a band twice: {raw_bands!r}")
        else:
            bands = tuple(b.strip() for b in raw_bands)
        min_band = c.str_(s, "search", "min_band_shown")
        if bands and min_band and min_band not in bands:
            c.bad("search.min_band_shown", f"must be one of {list(bands)}, got {min_band!r}")

    r = c.table(doc, "retention", {"probe_days_after_close", "results_days_after_close"})
    probe_days = c.int_(r, "retention", "probe_days_after_close", 0) if r else 0
    results_days = c.int_(r, "retention", "results_days_after_close", 0) if r else 0

    o = c.table(doc, "oversight", {"max_searches_per_case", "max_searches_per_case_per_day"})
    max_per_case = c.int_(o, "oversight", "max_searches_per_case", 1) if o else 1
    max_per_day = c.int_(o, "oversight", "max_searches_per_case_per_day", 1) if o else 1

    sp = c.table(doc, "suppression", {"threshold"})
    threshold = c.float_(sp, "suppression", "threshold", 0.0, 1.0) if sp else 0.0

    audit = _audit_policy(c, doc) if "audit" in doc else None
    access = DEFAULT_ACCESS
    if "access" in doc:
        a = c.table(doc, "access", _ACCESS_FIELDS)
        if a:
            access = AccessPolicy(
                c.int_(a, "access", "session_idle_minutes", 1),
                c.int_(a, "access", "session_absolute_hours", 1),
                c.int_(a, "access", "searches_per_user_per_hour", 1),
                c.int_(a, "access", "searches_per_user_per_day", 1),
            )

    review = DEFAULT_REVIEW
    if "review" in doc:
        rv = c.table(doc, "review", {"verifications_required"})
        if rv:
            required = c.int_(rv, "review", "verifications_required", 1)
            if required > MAX_VERIFICATIONS_REQUIRED:
                c.bad(
                    "review.verifications_required",
                    f"must be at most {MAX_VERIFICATIONS_REQUIRED}, got {required}",
                )
            review = ReviewPolicy(required)

    standing = DEFAULT_STANDING
    if "standing" in doc:
        st = c.table(doc, "standing", {"allowed", "max_days", "review_days"})
        if st:
            standing = StandingPolicy(
                c.bool_(st, "standing", "allowed") if "allowed" in st else True,
                c.int_(st, "standing", "max_days", 1) if "max_days" in st else 180,
                c.int_(st, "standing", "review_days", 1) if "review_days" in st else 30,
            )
            if standing.review_days > standing.max_days:
                c.bad("standing.review_days", "must be at most standing.max_days")
    wellbeing = DEFAULT_WELLBEING
    if "wellbeing" in doc:
        wb = c.table(doc, "wellbeing", {"force_blur"})
        if wb:
            wellbeing = WellbeingPolicy(c.bool_(wb, "wellbeing", "force_blur"))

    authorisation = _authorisation_policy(c, doc)
    profile = DEFAULT_PROFILE
    if "profile" in doc:
        pr = c.table(doc, "profile", {"name"})
        if pr:
            name = c.str_(pr, "profile", "name")
            if name and name not in PROFILE_NAMES:
                c.bad("profile.name", f"must be one of {list(PROFILE_NAMES)}, got {name!r}")
            profile = ProfilePolicy(name or "custom")

    accuracy = DEFAULT_ACCURACY
    if "accuracy" in doc:
        ac = c.table(doc, "accuracy", {"disparity_factor"}, optional={"disparity_factor"})
        if "disparity_factor" in ac:
            factor = c.float_(ac, "accuracy", "disparity_factor", 1.0, MAX_DISPARITY_FACTOR)
            accuracy = AccuracyPolicy(factor)

    if c.problems:
        raise PolicyError(source, c.problems)
    return Policy(
        version=version,
        purposes=tuple(purposes),
        search=SearchPolicy(max_candidates, min_quality, bands, min_band, quality_override),
        retention=RetentionPolicy(probe_days, results_days),
        oversight=OversightPolicy(max_per_case, max_per_day),
        suppression=SuppressionPolicy(threshold),
        audit=audit,
        source=source,
        text=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        access=access,
        review=review,
        standing=standing,
        wellbeing=wellbeing,
        authorisation=authorisation,
        profile=profile,
        accuracy=accuracy,
    )


def _audit_policy(c: _Checker, doc: dict[str, Any]) -> AuditPolicy | None:
    """The optional [audit] section; when present, all of its fields are required."""
    fields = {"checkpoint_folder", "checkpoint_every_entries", "checkpoint_every_minutes"}
    a = c.table(doc, "audit", fields)
    if not a:
        return None
    folder = c.str_(a, "audit", "checkpoint_folder")
    every_entries = c.int_(a, "audit", "checkpoint_every_entries", 0)
    every_minutes = c.int_(a, "audit", "checkpoint_every_minutes", 0)
    if every_entries == 0 and every_minutes == 0 and fields <= set(a):
        c.bad("audit", "set checkpoint_every_entries or checkpoint_every_minutes above 0")
    return AuditPolicy(folder, every_entries, every_minutes)


def _authorisation_policy(c: _Checker, doc: dict[str, Any]) -> AuthorisationPolicy:
    """The optional [authorisation] section (every field optional)."""
    if "authorisation" not in doc:
        return DEFAULT_AUTHORISATION
    a = c.table(doc, "authorisation", {"required", "urgent_hours", "types"})
    d = DEFAULT_AUTHORISATION
    required = c.str_(a, "authorisation", "required") if "required" in a else d.required
    if required not in ("no", "before_search", "before_or_urgent"):
        c.bad("authorisation.required", "must be no, before_search or before_or_urgent")
    hours = c.int_(a, "authorisation", "urgent_hours", 1) if "urgent_hours" in a else 48
    types = a.get("types", list(d.types))
    if not isinstance(types, list) or not types or any(t not in d.types for t in types):
        c.bad("authorisation.types", f"must be a non-empty list of {', '.join(d.types)}")
        types = list(d.types)
    return AuthorisationPolicy(required, hours, tuple(types))


def load_policy(path: Path | str | None = None) -> Policy:
    """Read the policy at ``path``, or the packaged default policy when ``path`` is None."""
    if path is None:
        text = (
            resources.files("facesearch.govern")
            .joinpath(DEFAULT_POLICY_RESOURCE)
            .read_text(encoding="utf-8")
        )
        return parse_policy(text, source=f"<default {DEFAULT_POLICY_RESOURCE}>")
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PolicyError(str(p), [("", f"cannot read the file: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(str(p), [("", "the file is not UTF-8 text")]) from None
    return parse_policy(text, source=str(p))


def default_policy() -> Policy:
    return load_policy(None)
