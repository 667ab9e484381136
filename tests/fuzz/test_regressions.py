"""Every defect fuzzing (fuzz/) found, as a small input that shows it: those the runs found
(docstrings say which run) and those found writing the harnesses (inputs past libFuzzer's
default length, or digits it rarely makes). docs/reliability.md lists them.

Each of these raised an exception its callers do not expect (so an ingest, a media import, a
policy check, an upload or a hash-set import or export stopped with a traceback instead of a
clear refusal), or lost data; each test failed before its fix, but for two neighbours kept
with them (a corrupt photo member and a corrupt .tar.gz), which held already.
"""

from __future__ import annotations

import importlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
import seeds  # fuzz/seeds.py (on sys.path: conftest.py)

from facesearch.govern.errors import PolicyError
from facesearch.govern.policy import parse_policy
from facesearch.ingest.archives import UnreadableArchiveError, check_archive
from facesearch.ingest.sources import DEFAULT_LIMITS, iter_archive, iter_manifest
from facesearch.media import hashsets
from facesearch.media.sources import iter_media, media_acceptance

HUGE_INT = "9" * 5000  # Python refuses int() of over 4,300 digits with ValueError
DEEP = "[" * 5000  # nesting past the recursion limit: RecursionError
MD5 = "0" * 32
VICS_HEAD = '{"@odata.context": "DataModels/2.0", "value": '


def _corrupt_zip(name: str) -> bytes:
    """A zip whose one member's deflate stream starts with an invalid block type."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, b"\xff\xd8\xff" + bytes(2000))
    data = bytearray(buf.getvalue())
    start = 30 + len(name)  # the local header, then the compressed data
    data[start] = 0xFF  # BTYPE 11: "invalid block type"
    return bytes(data)


def _corrupt_tar_gz() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for n in range(3):
            info = tarfile.TarInfo(f"p{n}.jpg")
            payload = bytes(range(256)) * 40
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    data = bytearray(buf.getvalue())
    data[10] = 0xFF  # the first deflate block after the gzip header: invalid block type
    return bytes(data)


def test_a_corrupt_member_read_for_its_first_bytes_is_an_error_item(tmp_path: Path) -> None:
    """Found by the first 8-second trial. The media import reads the first bytes of members
    not named as photos; a member whose deflate data is corrupt raised zlib.error out of the
    walk, ending the whole import."""
    path = tmp_path / "seized.zip"
    path.write_bytes(_corrupt_zip("renamed.bin"))
    items = list(iter_archive(path, media_acceptance(1024 * 1024), DEFAULT_LIMITS))
    assert items == []  # first bytes unreadable: not recognised as media, left out
    items = list(iter_media(path))
    assert items == []


def test_a_corrupt_photo_member_is_read_as_a_failure(tmp_path: Path) -> None:
    path = tmp_path / "photos.zip"
    path.write_bytes(_corrupt_zip("a.jpg"))
    items = iter_archive(path)
    item = next(items)  # read while the walk holds the archive open, as the ingest does
    assert item.read is not None
    with pytest.raises(Exception, match="invalid block type"):  # reported "cannot read: ..."
        item.read()
    assert list(items) == []


def test_a_corrupt_compressed_tar_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "photos.tar.gz"
    path.write_bytes(_corrupt_tar_gz())
    with pytest.raises(UnreadableArchiveError, match="not a readable zip or tar"):
        check_archive(path, DEFAULT_LIMITS)
    items = list(iter_archive(path))
    assert len(items) == 1 and items[0].read is None
    assert "invalid block type" in (items[0].error or "") or "not a readable" in (
        items[0].error or ""
    )


@pytest.mark.parametrize("line", [f'{{"path": "a.jpg", "n": {HUGE_INT}}}', DEEP])
def test_a_manifest_line_json_cannot_hold_is_an_error_row(tmp_path: Path, line: str) -> None:
    """json.loads raises ValueError (not JSONDecodeError) on huge integers and RecursionError
    on deep nesting; both escaped the manifest reader, ending the ingest."""
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8\xff")
    manifest = tmp_path / "rows.jsonl"
    manifest.write_text(line + '\n{"path": "a.jpg"}\n')
    items = list(iter_manifest(manifest))
    assert items[0].read is None and items[0].path.endswith("rows.jsonl:1")
    assert (items[0].error or "").startswith("invalid JSON")
    assert items[1].read is not None and items[1].read() == b"\xff\xd8\xff"


@pytest.mark.parametrize("text", [f"version = {HUGE_INT}\n", f"version = {DEEP}\n"])
def test_a_policy_toml_cannot_hold_is_a_policy_error(text: str) -> None:
    with pytest.raises(PolicyError, match="not valid TOML"):
        parse_policy(text)


@pytest.mark.parametrize(
    "body",
    [
        VICS_HEAD + f'[{{"MD5": "{MD5}", "MediaSize": {HUGE_INT}}}]}}',
        VICS_HEAD + DEEP,
    ],
)
def test_vics_json_cannot_hold_is_a_format_error(body: str) -> None:
    with pytest.raises(hashsets.HashSetFormatError, match="not valid JSON"):
        hashsets.parse(body.encode())


@pytest.mark.parametrize("size", ["\u00b2", "\u0663", str(2**64), "1" * 5000])
def test_a_caid_media_size_of_other_digits_or_too_large_is_a_format_error(size: str) -> None:
    """``"²".isdigit()`` is true but int() refuses it (ValueError); a size past the catalog's
    BIGINT failed the import's insert."""
    data = f"MD5,MediaSize\n{MD5},{size}\n".encode()
    with pytest.raises(hashsets.HashSetFormatError, match=r"line 2\.MediaSize"):
        hashsets.parse(data, name="set.csv")


def test_vics_media_size_past_bigint_is_a_format_error() -> None:
    body = VICS_HEAD + f'[{{"MD5": "{MD5}", "MediaSize": {2**63}}}]}}'
    with pytest.raises(hashsets.HashSetFormatError, match=r"value\[0\]\.MediaSize"):
        hashsets.parse(body.encode())


@pytest.mark.parametrize("value", ["\u00b2", "--5", "\u0663"])
def test_a_set_with_a_category_or_media_id_of_other_digits_exports(value: str) -> None:
    """Categories and media ids are kept as given; the export turned those that
    ``lstrip("-").isdigit()`` took for numbers into int(), which raised ValueError."""
    body = VICS_HEAD + f'[{{"MD5": "{MD5}", "Category": "{value}", "MediaID": "{value}"}}]}}'
    parsed = hashsets.parse(body.encode())
    doc = hashsets.to_vics(parsed.records)
    assert doc["value"][0]["Category"] == value
    again = hashsets.parse(hashsets.dumps(doc).encode())
    assert again.records[0].category == value


def test_a_csv_category_of_digits_and_separators_exports() -> None:
    """Found by a CI trial (2026-12-07): a CAID CSV category of digits and U+001C (kept by
    the import: its cut to 100 characters comes after the strip), which ``str.strip``
    removed when the export asked whether it was a number and ``int`` then refused."""
    data = f"MD5,Category\n{MD5},20000{chr(0x1C) * 97}0000010\n".encode()
    parsed = hashsets.parse(data, "caid", "set.txt")
    category = parsed.records[0].category
    assert category is not None and category.startswith("20000\x1c")
    doc = hashsets.to_vics(parsed.records)
    assert doc["value"][0]["Category"] == category  # kept as given, not a number
    again = hashsets.parse(hashsets.dumps(doc).encode())
    hashes = [(r.md5, r.sha1, r.sha256, r.pdq, r.media_size) for r in parsed.records]
    assert [(r.md5, r.sha1, r.sha256, r.pdq, r.media_size) for r in again.records] == hashes


def test_pdq_crops_and_quality_without_a_pdq_survive_the_export() -> None:
    """Found by the first 8-second trial. An entry with PDQCrops (and PDQQuality) but no PDQ
    of the whole file: the export dropped both, so exporting and importing again lost the
    crops elimination matches on."""
    crops = ["d" * 64, "e" * 64]
    body = VICS_HEAD + f'[{{"SHA256": "{"b" * 64}", "PDQQuality": 90, "PDQCrops": {crops}}}]}}'
    parsed = hashsets.parse(body.replace("'", '"').encode())
    again = hashsets.parse(hashsets.dumps(hashsets.to_vics(parsed.records)).encode())
    assert [r.key() for r in again.records] == [r.key() for r in parsed.records]
    assert again.records[0].pdq_crops == " ".join(crops)


def test_a_caid_csv_with_a_lone_carriage_return_is_read() -> None:
    """Found by the fuzzer (a CR inside the CAID CSV): csv.Error "new-line character seen in
    unquoted field" escaped the parser. A lone CR now ends a line, as csv reads it."""
    data = b"MD5,Category\r" + MD5.encode() + b",2\r" + b"1" * 32 + b",3\n"
    parsed = hashsets.parse(data, name="set.csv")
    assert [(r.md5, r.category) for r in parsed.records] == [(MD5, "2"), ("1" * 32, "3")]


def test_a_csv_field_past_the_csv_limit_is_a_clear_error(tmp_path: Path) -> None:
    """csv.Error (a field over 128 KiB) escaped the CAID parser and the manifest reader."""
    huge = "x" * 200_000
    with pytest.raises(hashsets.HashSetFormatError, match="line 3: not readable CSV"):
        hashsets.parse(f"MD5,Category\n{MD5},1\n{MD5},{huge}\n".encode(), name="set.csv")
    manifest = tmp_path / "rows.csv"
    manifest.write_text(f"path,title\na.jpg,t\nb.jpg,{huge}\nc.jpg,t\n")
    items = list(iter_manifest(manifest))
    assert [i.path.rsplit("/", 1)[-1] for i in items] == ["a.jpg", "rows.csv:3"]
    assert "unreadable CSV" in (items[1].error or "")


def _zip_with_an_empty_member_name() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.jpg", b"\xff\xd8\xff")
        zf.writestr("b.jpg", b"\xff\xd8\xff")
    # rename "b.jpg" to "" in the central directory: its name length 5 -> 0, name dropped
    data = buf.getvalue()
    central = data.rindex(b"PK\x01\x02")
    name_len = central + 28
    fixed = data[:name_len] + b"\x00\x00" + data[name_len + 2 : central + 46]
    fixed += data[central + 46 + 5 :]
    end = fixed.rindex(b"PK\x05\x06")  # the central directory is 5 bytes shorter
    size = int.from_bytes(fixed[end + 12 : end + 16], "little") - 5
    return fixed[: end + 12] + size.to_bytes(4, "little") + fixed[end + 16 :]


def test_a_zip_member_with_an_empty_name_is_no_crash(tmp_path: Path) -> None:
    """Found by the first long run: ZipInfo.is_dir() raised IndexError on a member named "", out of
    the archive check (the API answered 500) and out of the walk (the ingest stopped)."""
    path = tmp_path / "photos.zip"
    path.write_bytes(_zip_with_an_empty_member_name())
    assert sorted(i.filename for i in zipfile.ZipFile(path).infolist()) == ["", "a.jpg"]
    assert check_archive(path, DEFAULT_LIMITS) == 2
    items = iter_archive(path)
    first = next(items)
    assert first.path == str(path) and first.member == "a.jpg" and first.read is not None
    assert first.read() == b"\xff\xd8\xff"
    assert list(items) == []  # "" is no photo's name


@pytest.mark.parametrize(
    ("name", "rows"),
    [
        ("rows.csv", 'path\n"a\x00.jpg"\na.jpg\n'),
        ("rows.jsonl", '{"path": "a\\u0000.jpg"}\n{"path": "a.jpg"}\n'),
    ],
)
def test_a_manifest_path_with_a_nul_byte_is_refused(tmp_path: Path, name: str, rows: str) -> None:
    """Found by the first long run: with the server's roots, resolving such a path raised
    ValueError ("embedded null byte") out of the manifest reader, ending the ingest job."""
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8\xff")
    manifest = tmp_path / name
    manifest.write_text(rows)
    for roots in ([tmp_path], None):
        items = list(iter_manifest(manifest, roots))
        assert len(items) == 2
        assert items[0].read is None and "NUL byte" in (items[0].error or "")
        assert items[1].read is not None and items[1].read() == b"\xff\xd8\xff"


@pytest.mark.parametrize("length", ["\u00b2", "\u00b9", "9" * 5000])
def test_a_content_length_of_other_digits_is_refused_400(length: str) -> None:
    """Found by reading what the API harness reaches: ``"²".isdigit()`` is true, so the
    guard and the upload check called int() on it (ValueError, a 500); so did a length of
    over 4,300 digits. (uvicorn's parsers refuse such a header before the app; the guard does
    not rely on it.) Run through the API harness's guard driver: the real RequestGuard."""
    pytest.importorskip("atheris", reason="atheris (the dev extra) runs the fuzz harnesses")
    fuzz_api = importlib.import_module("fuzz_api")  # fuzz/fuzz_api.py
    raw = f"POST /api/v1/cases\ncontent-length: {length}\n".encode("latin-1", "replace")
    raw += b"cookie: facesearch_session=live-session\n\nabc"
    assert fuzz_api.guard_answer(raw)[:2] == (400, None)
    ok = b"POST /api/v1/cases\ncontent-length: 3\ncookie: facesearch_session=live-session\n\nabc"
    assert fuzz_api.guard_answer(ok)[:2] == (200, 3)


@pytest.mark.parametrize("section", ["search", "retention", "oversight", "suppression", "access"])
def test_an_empty_policy_section_is_refused_field_by_field(section: str) -> None:
    """Found by the first long run: an empty ``[search]`` (or any section) passed validation with
    made-up values (no band shown, 0 days of retention, a suppression threshold of 0), where
    every field is required so that nothing silently falls back to a default."""
    text = seeds.default_policy_text()
    if f"[{section}]" not in text:
        text += f"\n[{section}]\n"
    else:  # keep the header, drop the section's fields (up to the next header)
        head, _, rest = text.partition(f"[{section}]\n")
        _, nxt, tail = rest.partition("\n[")
        text = head + f"[{section}]\n" + (nxt + tail if nxt else "")
    with pytest.raises(PolicyError) as refused:
        parse_policy(text)
    assert refused.value.fields and all(f.startswith(f"{section}.") for f in refused.value.fields)


def _zip_with_a_bad_utf8_name(where: str) -> bytes:
    """A zip of "x.bin" whose name is flagged UTF-8 (bit 11 of the general purpose flags)
    and, in the local header (``where="local"``) or in the central directory, is not:
    b"x\\x8cbin"."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x.bin", b"\xff\xd8\xff")
    data = bytearray(buf.getvalue())
    central = data.find(b"PK\x01\x02")
    data[0 + 6 + 1] |= 0x08  # the local header's flags (offset 6), bit 11
    data[central + 8 + 1] |= 0x08  # the central directory's (offset 8)
    name = data.find(b"x.bin", central if where == "central" else 0)
    data[name + 1] = 0x8C
    return bytes(data)


@pytest.mark.parametrize("where", ["local", "central"])
def test_a_zip_name_flagged_utf8_that_is_not_is_no_crash(tmp_path: Path, where: str) -> None:
    """Found by the second long run: zipfile decodes a name flagged UTF-8 and raises
    UnicodeDecodeError; from the central directory that escaped the archive check (a 500 on
    upload) and the walk, from a local header the read of the member's first bytes (the media
    import stopped)."""
    path = tmp_path / "seized.zip"
    path.write_bytes(_zip_with_a_bad_utf8_name(where))
    if where == "central":
        with pytest.raises(UnreadableArchiveError):
            check_archive(path, DEFAULT_LIMITS)
        (item,) = list(iter_media(path))
        assert item.read is None and item.error
    else:
        assert check_archive(path, DEFAULT_LIMITS) == 1
        assert list(iter_media(path)) == []  # its first bytes unreadable: not media


def test_a_zip_of_a_version_zipfile_cannot_read_is_unreadable(tmp_path: Path) -> None:
    """Found by the second long run (API harness, archive upload): zipfile raises
    NotImplementedError ("zip file version 8.2") on opening a zip whose central directory
    needs a version above 6.3; it escaped the upload's archive check (a 500)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.jpg", b"\xff\xd8\xff")
    data = bytearray(buf.getvalue())
    data[data.find(b"PK\x01\x02") + 6] = 82  # version needed to extract: 8.2
    path = tmp_path / "upload.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(UnreadableArchiveError, match=r"zip file version 8\.2"):
        check_archive(path, DEFAULT_LIMITS)
    (item,) = list(iter_archive(path))
    assert item.read is None and "zip file version 8.2" in (item.error or "")
