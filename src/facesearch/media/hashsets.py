"""Known-image hash sets: read and write Project VIC VICS JSON, CAID, plain MD5/SHA-1 lists.

Formats read (``detect_format`` chooses from the content):

* **VICS** (Project VIC's OData data model): a JSON object whose ``value`` array holds Media
  entries with ``MD5`` and/or ``SHA1``, ``Category``, ``MediaSize``, ``MediaID`` and an optional
  ``PhotoDNA`` (kept as the opaque text it is). Data model 1.x names itself in
  ``odata.metadata``, 2.0 in ``@odata.context``. facesearch's own exports are VICS 2.0 with four
  more properties per entry (``SHA256``, ``PDQ``, ``PDQQuality`` and ``PDQCrops``, the PDQ of
  the file's centred crops, see hashing.PDQ_CROPS) that other tools ignore.
* **CAID** (the UK Child Abuse Image Database): its VICS-style JSON export (read as VICS, the
  categories kept as given) or a CSV with a header naming ``MD5`` and/or ``SHA1`` and
  optionally ``Category`` and ``MediaSize`` columns.
* **Plain lists**: one MD5 (32 hex digits), SHA-1 (40) or SHA-256 (64) per line; blank lines
  and lines starting with ``#`` are skipped.

A malformed file is refused as a whole (:class:`HashSetFormatError`) with the entry and the
field at fault, e.g. ``value[3].MD5: not 32 hexadecimal digits``: nothing of it is imported.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from facesearch.errors import FacesearchError

VICS_1_CONTEXT = "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Media"
VICS_2_CONTEXT = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media"
FORMATS = ("vics-1", "vics-2", "caid", "md5", "sha1", "sha256", "list")
_HEX = {32: "md5", 40: "sha1", 64: "sha256"}
_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
# ASCII digits only: str.isdigit() also takes "²" and "٣", which int() refuses or reads
_DIGITS_RE = re.compile(r"[0-9]{1,30}")
_INT_RE = re.compile(r"-?[0-9]{1,4000}")
MAX_MEDIA_SIZE = 2**63 - 1  # the catalog's BIGINT column


class HashSetFormatError(FacesearchError):
    """A hash-set file that cannot be read; the message names the entry and field."""


@dataclass(frozen=True)
class HashRecord:
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    category: str | None = None
    media_size: int | None = None
    photodna: str | None = None
    media_id: str | None = None
    pdq_crops: str | None = None  # PDQ of centred crops (hashing.PDQ_CROPS), space-separated

    def key(self) -> tuple[Any, ...]:
        return (
            self.md5,
            self.sha1,
            self.sha256,
            self.pdq,
            self.pdq_quality,
            self.pdq_crops,
            self.category,
            self.media_size,
            self.photodna,
        )


@dataclass(frozen=True)
class ParsedHashSet:
    format: str
    records: list[HashRecord]


def _hex(value: Any, digits: int, where: str) -> str:
    if not isinstance(value, str):
        raise HashSetFormatError(f"{where}: expected a string of {digits} hex digits")
    text = value.strip()
    if len(text) != digits or not _HEX_RE.match(text):
        raise HashSetFormatError(f"{where}: not {digits} hexadecimal digits ({value[:80]!r})")
    return text.lower()


def _category(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise HashSetFormatError(f"{where}: expected a number or a name")
    return str(value).strip()[:100] or None


def _size(value: Any, where: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and _DIGITS_RE.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MEDIA_SIZE:
        raise HashSetFormatError(f"{where}: expected a whole number of bytes, 0 to 2**63-1")
    return value


def detect_format(data: bytes, name: str = "") -> str:
    head = data.lstrip()[:1]
    if head == b"{":
        return "vics"
    if name.lower().endswith(".csv"):
        return "caid"
    return "list"


def parse(data: bytes, fmt: str | None = None, name: str = "") -> ParsedHashSet:
    """Read a hash-set file; ``fmt`` one of vics, vics-1, vics-2, caid, list (auto when None)."""
    fmt = fmt or detect_format(data, name)
    if fmt in ("vics", "vics-1", "vics-2"):
        return parse_vics(data)
    if fmt == "caid":
        return parse_caid(data, name)
    if fmt in ("list", "md5", "sha1", "sha256"):
        return parse_list(data, None if fmt == "list" else fmt)
    raise HashSetFormatError(f"unknown hash-set format {fmt!r}: one of vics, caid, list")


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HashSetFormatError(f"not UTF-8 text (byte {exc.start})") from None


def parse_vics(data: bytes, caid: bool = False) -> ParsedHashSet:
    try:
        doc = json.loads(_text(data))
    # ValueError: JSONDecodeError, and integers over 4,300 digits; RecursionError: deep nesting
    except (ValueError, RecursionError) as exc:
        raise HashSetFormatError(f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise HashSetFormatError("top level: expected a JSON object with a 'value' array")
    context = doc.get("@odata.context", doc.get("odata.metadata"))
    if context is None:
        raise HashSetFormatError(
            "@odata.context: missing (VICS 2.0 names it, 1.x names odata.metadata)"
        )
    if not isinstance(context, str):
        raise HashSetFormatError("@odata.context: expected a string")
    match = re.search(r"DataModels/(\d+)\.(\d+)", context)
    if match is None:
        raise HashSetFormatError(f"@odata.context: no VICS data model version in {context!r}")
    major = int(match.group(1))
    if major not in (1, 2):
        raise HashSetFormatError(f"@odata.context: VICS data model {major}.x is not supported")
    entries = doc.get("value")
    if not isinstance(entries, list):
        raise HashSetFormatError("value: missing or not an array of Media entries")
    records = []
    for i, entry in enumerate(entries):
        where = f"value[{i}]"
        if not isinstance(entry, dict):
            raise HashSetFormatError(f"{where}: expected a Media object")
        md5 = _hex(entry["MD5"], 32, f"{where}.MD5") if entry.get("MD5") is not None else None
        sha1 = _hex(entry["SHA1"], 40, f"{where}.SHA1") if entry.get("SHA1") is not None else None
        sha256 = (
            _hex(entry["SHA256"], 64, f"{where}.SHA256")
            if entry.get("SHA256") is not None
            else None
        )
        pdq = _hex(entry["PDQ"], 64, f"{where}.PDQ") if entry.get("PDQ") is not None else None
        if md5 is None and sha1 is None and sha256 is None and pdq is None:
            raise HashSetFormatError(f"{where}.MD5: missing (an entry needs MD5 or SHA1)")
        quality = entry.get("PDQQuality")
        if quality is not None and (
            isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100
        ):
            raise HashSetFormatError(f"{where}.PDQQuality: expected a whole number 0..100")
        crops = entry.get("PDQCrops")
        if crops is not None:
            if not isinstance(crops, list) or len(crops) > 16:
                raise HashSetFormatError(
                    f"{where}.PDQCrops: expected an array of at most 16 PDQ hashes"
                )
            crops = [_hex(c, 64, f"{where}.PDQCrops[{k}]") for k, c in enumerate(crops)]
        photodna = entry.get("PhotoDNA")
        if photodna is not None and not isinstance(photodna, str):
            raise HashSetFormatError(f"{where}.PhotoDNA: expected a string (kept as given)")
        media_id = entry.get("MediaID")
        records.append(
            HashRecord(
                md5=md5,
                sha1=sha1,
                sha256=sha256,
                pdq=pdq,
                pdq_quality=quality,
                category=_category(entry.get("Category"), f"{where}.Category"),
                media_size=_size(entry.get("MediaSize"), f"{where}.MediaSize"),
                photodna=photodna or None,
                media_id=None if media_id is None else str(media_id)[:100],
                pdq_crops=" ".join(crops) if crops else None,
            )
        )
    fmt = "caid" if caid else f"vics-{major}"
    return ParsedHashSet(fmt, records)


def parse_caid(data: bytes, name: str = "") -> ParsedHashSet:
    """CAID: its VICS-style JSON, or a CSV with MD5/SHA1[/Category/MediaSize] columns."""
    if data.lstrip()[:1] == b"{":
        return parse_vics(data, caid=True)
    # newline="": the csv module's own line splitting (a lone CR ends a line, as in Excel's)
    reader = csv.DictReader(io.StringIO(_text(data), newline=""))
    try:
        return _caid_csv(reader)
    except csv.Error as exc:  # e.g. a field past csv's size limit
        raise HashSetFormatError(f"line {reader.line_num + 1}: not readable CSV ({exc})") from None


def _caid_csv(reader: csv.DictReader[str]) -> ParsedHashSet:
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    if "md5" not in fields and "sha1" not in fields:
        raise HashSetFormatError("header: needs an MD5 or a SHA1 column")
    records = []
    for row_no, row in enumerate(reader, start=2):

        def cell(key: str, row: dict[str, str | None] = row) -> str | None:
            col = fields.get(key)
            value = row.get(col) if col else None
            return value.strip() if value and value.strip() else None

        md5, sha1 = cell("md5"), cell("sha1")
        if md5 is None and sha1 is None:
            raise HashSetFormatError(f"line {row_no}.MD5: missing (a row needs MD5 or SHA1)")
        records.append(
            HashRecord(
                md5=_hex(md5, 32, f"line {row_no}.MD5") if md5 else None,
                sha1=_hex(sha1, 40, f"line {row_no}.SHA1") if sha1 else None,
                category=_category(cell("category"), f"line {row_no}.Category"),
                media_size=_size(cell("mediasize"), f"line {row_no}.MediaSize"),
            )
        )
    return ParsedHashSet("caid", records)


def parse_list(data: bytes, kind: str | None = None) -> ParsedHashSet:
    records = []
    kinds = set()
    for line_no, raw in enumerate(_text(data).splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        token = line.split()[0]
        found = _HEX.get(len(token)) if _HEX_RE.match(token) else None
        if found is None or (kind is not None and found != kind):
            want = kind.upper() if kind else "an MD5, SHA-1 or SHA-256"
            raise HashSetFormatError(f"line {line_no}: not {want} in hex ({token[:80]!r})")
        kinds.add(found)
        value = token.lower()
        records.append(
            HashRecord(
                md5=value if found == "md5" else None,
                sha1=value if found == "sha1" else None,
                sha256=value if found == "sha256" else None,
            )
        )
    fmt = kinds.pop() if len(kinds) == 1 else "list"
    return ParsedHashSet(fmt, records)


def to_vics(records: Iterable[HashRecord], *, version: int = 2) -> dict[str, Any]:
    """A VICS JSON document (data model 2.0 unless ``version`` is 1) of ``records``."""
    value = []
    for n, r in enumerate(records, start=1):
        media_id = int(r.media_id) if r.media_id is not None and _is_int(r.media_id) else n
        entry: dict[str, Any] = {"MediaID": media_id}
        if r.category is not None:
            entry["Category"] = int(r.category) if _is_int(r.category) else r.category
        if r.md5:
            entry["MD5"] = r.md5.upper()
        if r.sha1:
            entry["SHA1"] = r.sha1.upper()
        if r.media_size is not None:
            entry["MediaSize"] = r.media_size
        if r.photodna:
            entry["PhotoDNA"] = r.photodna
        if r.sha256:
            entry["SHA256"] = r.sha256.upper()
        if r.pdq:
            entry["PDQ"] = r.pdq
        # kept when imported without a PDQ of the whole file too: an export loses nothing
        if r.pdq_quality is not None:
            entry["PDQQuality"] = r.pdq_quality
        if r.pdq_crops:
            entry["PDQCrops"] = r.pdq_crops.split()
        entry["IsPrecategorized"] = r.category is not None
        value.append(entry)
    if version == 1:
        return {"odata.metadata": VICS_1_CONTEXT, "value": value}
    return {"@odata.context": VICS_2_CONTEXT, "value": value}


def _is_int(value: str | None) -> bool:
    """Whether ``int(value)`` reads it: digits with only the spaces ``int`` itself strips
    around them (``str.strip`` also strips separators such as U+001C, which ``int`` refuses)."""
    return value is not None and _INT_RE.fullmatch(value.strip(" \t\n\r\f\v")) is not None


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def record_keys(records: Sequence[HashRecord]) -> list[tuple[Any, ...]]:
    return sorted((r.key() for r in records), key=repr)
