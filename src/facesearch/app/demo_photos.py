"""The demo's photos: real faces that any machine with access to PyPI can fetch, then cached.

`make demo` needs a gallery and a probe that nobody has to provide. They come from the source
distribution of ``face_recognition==1.3.0`` on PyPI (MIT licence, (c) 2017 Adam Geitgey), whose
``tests/test_images/`` holds photos of Barack Obama and Joe Biden. pip fetches the sdist
without installing it, checking its pinned SHA-256 before anything of it runs; the photos
are copied out of the tarball by name (never by the member's own path, so nothing can land
outside the cache), each checked against its own SHA-256, and kept in a user cache folder so
that later runs need no network.

The probe (``obama2.jpg``) is a different photo of a person in the gallery, held out of it,
so the demo shows a real match rather than a photo finding itself. ``32bit.png`` is left out
altogether: it is the probe photo saved again as PNG.

They are also the photos ``facesearch models add`` smoke-tests a new recognizer on
(:mod:`facesearch.app.models`), which is why they live in the application layer; the command
``python -m facesearch.cli.demo`` fetches them and prints where they are
(``--shell`` prints them as shell assignments for scripts/demo.sh).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from facesearch.errors import FacesearchError
from facesearch.settings import Settings

CACHE_ENV = "FACESEARCH_DEMO_PHOTOS"
"""Environment variable naming the cache folder (default: the user's cache dir)."""


class DemoPhotosError(FacesearchError):
    """The demo photos could not be fetched or did not match their recorded SHA-256."""


@dataclass(frozen=True)
class DemoSource:
    """The pinned source distribution that carries the photos."""

    requirement: str
    filename: str
    sha256: str
    member_prefix: str
    licence_member: str


@dataclass(frozen=True)
class DemoPhoto:
    """One photo taken from the sdist: its file name, SHA-256, who it shows and its role."""

    name: str
    sha256: str
    person: str
    role: str  # "gallery" or "probe"


SOURCE = DemoSource(
    requirement="face_recognition==1.3.0",
    filename="face_recognition-1.3.0.tar.gz",
    sha256="5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
    member_prefix="face_recognition-1.3.0/tests/test_images/",
    licence_member="face_recognition-1.3.0/LICENSE",
)
LICENCE_SHA256 = "a97254e5ee8167a2bedd456b8c6710fde64d5603422e631d0bc3132c90d5c930"
LICENCE_NAME = "LICENSE.face_recognition"

PHOTOS: tuple[DemoPhoto, ...] = (
    DemoPhoto(
        "biden.jpg",
        "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
        "Joe Biden",
        "gallery",
    ),
    DemoPhoto(
        "obama.jpg",
        "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
        "Barack Obama",
        "gallery",
    ),
    DemoPhoto(
        "obama3.jpg",
        "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
        "Barack Obama",
        "gallery",
    ),
    # Two crops of obama.jpg with the face at the edge of the frame.
    DemoPhoto(
        "obama_partial_face.jpg",
        "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117",
        "Barack Obama",
        "gallery",
    ),
    DemoPhoto(
        "obama_partial_face2.jpg",
        "9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028",
        "Barack Obama",
        "gallery",
    ),
    DemoPhoto(
        "obama2.jpg",
        "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
        "Barack Obama",
        "probe",
    ),
)

Downloader = Callable[[Path], Path]
"""Puts the sdist into the given folder and returns its path."""


@dataclass(frozen=True)
class DemoPhotos:
    """Where the cached demo photos are."""

    root: Path
    gallery: Path
    probe: Path
    probe_person: str
    licence: Path

    def gallery_photos(self) -> list[Path]:
        """The gallery's photo files, sorted by name."""
        return sorted(self.gallery / p.name for p in PHOTOS if p.role == "gallery")


def default_cache_dir(settings: Settings) -> Path:
    """``$FACESEARCH_DEMO_PHOTOS``, else facesearch/demo-photos in the user's cache folder
    (``$XDG_CACHE_HOME``, or ~/.cache where that is unset), as the typed settings say."""
    return settings.demo_photos_dir


def layout(root: Path) -> DemoPhotos:
    """The demo photos' paths under ``root`` (whether or not they are there yet)."""
    probe = next(p for p in PHOTOS if p.role == "probe")
    return DemoPhotos(
        root=root,
        gallery=root / "gallery",
        probe=root / "probe" / probe.name,
        probe_person=probe.person,
        licence=root / LICENCE_NAME,
    )


def _target(photos: DemoPhotos, photo: DemoPhoto) -> Path:
    return photos.probe if photo.role == "probe" else photos.gallery / photo.name


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_cached(root: Path) -> bool:
    """Whether every demo photo and the licence are under ``root`` with their recorded hashes."""
    photos = layout(root)
    wanted = [(_target(photos, p), p.sha256) for p in PHOTOS]
    wanted.append((photos.licence, LICENCE_SHA256))
    return all(path.is_file() and sha256_file(path) == sha for path, sha in wanted)


def pip_download(dest: Path) -> Path:
    """Fetch the sdist into ``dest`` with this interpreter's pip; pip checks the pinned hash.

    pip's own progress goes to stderr, so a caller's stdout stays clean.
    """
    requirements = dest / "requirements.txt"
    requirements.write_text(f"{SOURCE.requirement} --hash=sha256:{SOURCE.sha256}\n")
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
        "--require-hashes", "--disable-pip-version-check", "-r", str(requirements),
        "-d", str(dest),
    ]  # fmt: skip
    print(f"fetching the demo photos: pip download {SOURCE.requirement} ...", file=sys.stderr)
    done = subprocess.run(command, stdout=sys.stderr, check=False)
    sdist = dest / SOURCE.filename
    if done.returncode != 0 or not sdist.is_file():
        raise DemoPhotosError(
            f"could not download {SOURCE.requirement} from PyPI with pip (exit "
            f"{done.returncode}; pip's messages are above). The demo photos need the registry "
            "once, later runs use the cache; or give your own photos: "
            "make demo PHOTOS=FOLDER PROBE=PHOTO"
        )
    return sdist


def extract_photos(sdist: Path, photos: DemoPhotos) -> None:
    """Copy the demo photos and the licence out of ``sdist`` into ``photos``' folders.

    Members are looked up by their expected names and must be regular files; their bytes are
    written to paths chosen here, so a member's own path (absolute, '..', a link) is never
    used. Each file is checked against its recorded SHA-256 before it replaces anything.
    """
    wanted = {SOURCE.member_prefix + p.name: (_target(photos, p), p.sha256) for p in PHOTOS}
    wanted[SOURCE.licence_member] = (photos.licence, LICENCE_SHA256)
    found: set[str] = set()
    with tarfile.open(sdist, mode="r:gz") as tar:
        for member in tar:
            if member.name not in wanted:
                continue
            if not member.isfile():
                raise DemoPhotosError(f"{sdist.name}: {member.name} is not a regular file")
            target, sha = wanted[member.name]
            source = tar.extractfile(member)
            assert source is not None  # a regular file always has contents
            data = source.read()
            if hashlib.sha256(data).hexdigest() != sha:
                raise DemoPhotosError(f"{sdist.name}: {member.name} does not match its SHA-256")
            _write_atomically(target, data)
            found.add(member.name)
    if missing := sorted(set(wanted) - found):
        raise DemoPhotosError(f"{sdist.name} lacks {', '.join(missing)}")


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(data)
    partial.replace(target)


def fetch_demo_photos(root: Path, download: Downloader = pip_download) -> DemoPhotos:
    """The demo photos, from the cache at ``root`` (:func:`default_cache_dir`) or fetched once
    (needs PyPI) and cached."""
    photos = layout(root)
    if is_cached(root):
        return photos
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=root) as tmp:
        sdist = download(Path(tmp))
        if (got := sha256_file(sdist)) != SOURCE.sha256:
            raise DemoPhotosError(
                f"{sdist.name} has SHA-256 {got}, expected {SOURCE.sha256}: refusing to use it"
            )
        extract_photos(sdist, photos)
    (root / "SOURCE.txt").write_text(
        f"Photos from the source distribution of {SOURCE.requirement} on PyPI\n"
        f"({SOURCE.filename}, SHA-256 {SOURCE.sha256}), tests/test_images/;\n"
        f"MIT licence, see {LICENCE_NAME}. Fetched by facesearch for its demo.\n"
    )
    return photos
