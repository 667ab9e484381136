"""Seed corpora for the fuzz harnesses, generated here so no binary input is committed.

``python fuzz/seeds.py [ROOT]`` writes valid and near-valid inputs for every target into
``ROOT/<target>/`` (default ``fuzz/corpus/``, git-ignored); :func:`seeds` gives them in
memory (the tests run each harness over them). The first byte of some targets' inputs
chooses what the rest is read as (the harness's docstring says how); the seeds here carry it.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import zipfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_ROOT = HERE / "corpus"
TARGETS = ("decode", "archive", "manifest", "policy", "hashsets", "api")


def _image(fmt: str, mode: str = "RGB", size: tuple[int, int] = (8, 6), **save: object) -> bytes:
    from PIL import Image

    im = Image.new(mode, size)
    # a small gradient, so the encoders have something to code
    if mode in ("RGB", "RGBA"):
        px = im.load()
        assert px is not None
        for y in range(size[1]):
            for x in range(size[0]):
                px[x, y] = (x * 30 % 256, y * 40 % 256, 128) + ((200,) if mode == "RGBA" else ())
    buf = io.BytesIO()
    im.save(buf, fmt, **save)
    return buf.getvalue()


def _jpeg_rotated() -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90
    return _image("JPEG", exif=exif.tobytes())


def _gif_animated() -> bytes:
    from PIL import Image

    frames = [Image.new("P", (4, 4), i) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], transparency=0)
    return buf.getvalue()


def decode_seeds() -> list[bytes]:
    jpeg = _image("JPEG")
    png = _image("PNG")
    return [
        jpeg,
        _jpeg_rotated(),
        _image("JPEG", "L"),
        _image("JPEG", progressive=True),
        png,
        _image("PNG", "RGBA"),
        _image("PNG", "I;16"),
        _image("PNG", "P", transparency=0),
        _image("WEBP", quality=50),
        _image("WEBP", "RGBA", lossless=True),
        _gif_animated(),
        _image("BMP"),
        _image("TIFF"),
        _image("TIFF", "F"),
        _image("TIFF", compression="tiff_lzw"),
        _image("PPM", "L"),
        _image("PPM"),
        jpeg[: len(jpeg) // 2],  # truncated
        png[:40],  # a header without its pixels
        b"P5\n3 2\n255\n" + bytes(6),
        b"P2\n2 2\n65535\n0 1 2 3\n",
    ]


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("link.jpg")
        link.type = tarfile.SYMTYPE
        link.linkname = "../outside.jpg"
        tf.addfile(link)
    return buf.getvalue()


def archive_seeds() -> list[bytes]:
    photo = _image("JPEG")
    members = {"a/photo.jpg": photo, "b.png": _image("PNG"), "notes.txt": b"hello"}
    unsafe = {"../escape.jpg": photo, "/abs.jpg": photo, "ok.jpg": photo}
    return [
        _zip(members),
        _zip(members, zipfile.ZIP_STORED),
        _zip({"renamed.bin": photo}),
        _zip(unsafe),
        _tar(members),
        _tar(members, "w:gz"),
        _tar(unsafe),
        _tar({"one.jpg": photo}, "w:bz2"),
        _tar({"one.jpg": photo}, "w:xz"),
    ]


def manifest_seeds() -> list[bytes]:
    """First byte: even, CSV; odd, JSON Lines (see fuzz_manifest.py)."""
    header = "path,source_url,page_url,title,captured_at,collection\n"
    csv_rows = [
        header + "photo.jpg,https://example.org/a,,A title,2024-05-01T10:00:00Z,news\n",
        header + "missing.jpg,,,,2024-13-45,\n,,,,,\n",
        header + '"photo.jpg","x","y","z","2024-05-01","c",extra\n',
        "path\n../photo.jpg\n/etc/hostname\n",
    ]
    jsonl = [
        '{"path": "photo.jpg", "source_url": "https://example.org", "captured_at": "2024-05-01"}\n',
        '{"path": "photo.jpg", "collection": null, "title": 5}\n[1, 2]\nnot json\n\n',
        '{"path": "sub/../photo.jpg", "captured_at": "2024-05-01T00:00:00+02:00"}\n',
    ]
    return [b"\x00" + t.encode() for t in csv_rows] + [b"\x01" + t.encode() for t in jsonl]


def default_policy_text() -> str:
    return (
        resources.files("facesearch.govern")
        .joinpath("default_policy.toml")
        .read_text(encoding="utf-8")
    )


def policy_seeds() -> list[bytes]:
    text = default_policy_text()
    audit = '\n[audit]\ncheckpoint_folder = "cp"\ncheckpoint_every_entries = 100\n'
    access = (
        "\n[access]\nsession_idle_minutes = 30\nsession_absolute_hours = 12\n"
        "searches_per_user_per_hour = 60\nsearches_per_user_per_day = 300\n"
    )
    return [
        text.encode(),
        (text + audit + "checkpoint_every_minutes = 0\n").encode(),
        (text.replace("[access]", "[accessx]") + access).encode(),
        b'version = 2\nsearch = 5\n[[purposes]]\nkey = "BAD KEY"\n',
        b"version = 1\n[search]\nbands = []\n",
    ]


def hashset_seeds() -> list[bytes]:
    """First byte chooses the format the harness asks for (see fuzz_hashsets.py)."""
    from facesearch.media import hashsets

    records = [
        hashsets.HashRecord(md5="0" * 32, sha1="a" * 40, category="1", media_size=10),
        hashsets.HashRecord(
            sha256="b" * 64, pdq="c" * 64, pdq_quality=90, pdq_crops=" ".join(["d" * 64] * 2)
        ),
        hashsets.HashRecord(md5="1" * 32, photodna="AAAA", media_id="7", category="cat"),
    ]
    vics2 = hashsets.dumps(hashsets.to_vics(records)).encode()
    vics1 = hashsets.dumps(hashsets.to_vics(records, version=1)).encode()
    caid = b"MD5,SHA1,Category,MediaSize\n" + b"0" * 32 + b",," + b"2,100\n,"
    caid += b"f" * 40 + b",,\n"
    plain = b"# md5 list\n" + b"0123456789abcdef" * 2 + b"\n\n" + b"e" * 40 + b" name\n"
    return [
        b"\x00" + vics2,
        b"\x00" + vics1,
        b"\x01" + vics2,
        b"\x02" + caid,
        b"\x02" + vics1,
        b"\x03" + plain,
        b"\x04" + b"0" * 32 + b"\n",
        b"\x00" + b'{"@odata.context": "DataModels/3.0", "value": []}',
        b"\x00" + b'{"odata.metadata": "DataModels/1.3", "value": [{"MD5": "xyz"}]}',
    ]


def api_seeds() -> list[bytes]:
    """First byte chooses the request model or parser (see fuzz_api.py for the table)."""
    bodies: list[tuple[int, object]] = [
        (0, {"username": "ana", "password": "secret"}),
        (1, {"username": "bo", "roles": ["investigator"], "display_name": "Bo"}),
        (2, {"roles": ["supervisor"], "password": None}),
        (3, {"note": "ok"}),
        (4, {"current_password": "a", "new_password": "b"}),
        (5, {"username": None, "name": "ci", "expires_days": 30}),
        (6, {"path": "/data/photos", "collection": "news"}),
        (7, {"number": "2024-001", "purpose": "p", "legal_authority": "l", "justification": "j"}),
        (8, {"note": ""}),
        (9, {"username": "ana"}),
        (10, {"face_id": 3, "decision": "possible_match", "note": "n"}),
        (11, {"k": 10, "probes": 5}),
        (12, {"reason": "to check"}),
        (13, {"face_ids": [1, 2, 2147483647]}),
        (14, {"text": default_policy_text()}),
    ]
    out = [bytes([n]) + json.dumps(b).encode() for n, b in bodies]
    out.append(bytes([7]) + b'{"number": "../x", "purpose": 1}')
    # the search form's filters: collection \x00 from \x00 to \x00 prefix
    out.append(b"\x0fnews\x002024-01-01\x002024-12-31\x00/data")
    out.append(b"\x0f\x002024-01-01T10:00:00Z\x002024-02-30\x00")
    # uploads: an image, an archive, a text file
    out.append(b"\x10" + _image("JPEG"))
    out.append(b"\x11" + _zip({"a.jpg": _image("JPEG")}))
    out.append(b"\x11" + _tar({"a.jpg": b"x"}))
    # raw request headers for the guard: name: value lines
    out.append(b"\x12POST /api/v1/cases\ncontent-length: 10\ncookie: facesearch_session=abc\n")
    out.append(b"\x12POST /api/v1/removals\ntransfer-encoding: chunked\nauthorization: Basic x\n")
    out.append(b"\x12POST /api/v1/auth/login\ncontent-length: 1e3\n")
    return out


SEEDS: dict[str, Callable[[], list[bytes]]] = {
    "decode": decode_seeds,
    "archive": archive_seeds,
    "manifest": manifest_seeds,
    "policy": policy_seeds,
    "hashsets": hashset_seeds,
    "api": api_seeds,
}


def seeds(target: str) -> list[bytes]:
    """The seed inputs of one target."""
    return SEEDS[target]()


def write_seeds(root: Path = DEFAULT_ROOT, targets: tuple[str, ...] = TARGETS) -> dict[str, Path]:
    """Write every target's seeds to ``root/<target>/seed-<n>``; the folders by target."""
    folders = {}
    for target in targets:
        folder = Path(root) / target
        folder.mkdir(parents=True, exist_ok=True)
        for n, data in enumerate(seeds(target)):
            (folder / f"seed-{n:03d}").write_bytes(data)
        folders[target] = folder
    return folders


if __name__ == "__main__":
    for name, where in write_seeds(
        Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_ROOT
    ).items():
        print(f"{name}: {where}")
