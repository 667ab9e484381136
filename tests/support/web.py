"""The browser tests' server and data (imported by the test_web_* modules).

One real server per test session: uvicorn on 127.0.0.1 and a free port, in a thread, serving
the FastAPI app and the web app over a temporary data directory (SQLite) that holds a user of
each role, an approved case and a small gallery ingested with the real models from photos of
installed packages (scikit-image's astronaut and LFW subset, matplotlib's Grace Hopper).
Chromium is Debian's (``/usr/bin/chromium``); Playwright's own browser download is not used.
"""

from __future__ import annotations

import csv
import os
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance
from tests.conftest import REPO
from tests.support.govern import add_user_approved

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "docs" / "screenshots"
STATIC = REPO / "src" / "facesearch" / "serve" / "web" / "static"  # this checkout's web app
PASSWORD = "correct horse battery staple"
USERS = {  # username: (role, display name)
    "admin": ("administrator", "Ada Admin"),
    "ivy": ("investigator", "Ivy Investigator"),
    "sam": ("supervisor", "Sam Supervisor"),
    "audrey": ("auditor", "Audrey Auditor"),
}
CASE = "WEB-1"  # opened by ivy and approved by sam before the server starts
# Media: an investigator of another case (not in USERS: no sign-in test of her own) and her
# case, whose media set holds the astronaut again, so that WEB-1 gets a cross-case alert.
OTHER_INVESTIGATOR, OTHER_CASE = "iris", "WEB-3"
KNOWN_CATEGORY = "known-category-1"  # the category of the hash set that eliminates one file
# A policy like the default one but showing weak candidates too, so that a search of this
# small gallery has several candidates to review (every band appears).
POLICY_CHANGES = {'min_band_shown = "possible"': 'min_band_shown = "weak"'}


@dataclass
class WebServer:
    url: str
    data_dir: Path
    photos: Path
    ingest_root: Path
    probe: Path  # two faces: the astronaut (left) and Grace Hopper (right)
    media_faces: int  # faces in CASE's media set (the astronaut and Grace Hopper photos)

    def audit_actions(self) -> list[dict[str, Any]]:
        """Every audit entry (action, actor, details), read through the library."""
        from facesearch.app.service import Service
        from facesearch.govern.audit import entries
        from facesearch.settings import Settings

        service = Service.for_cli(Settings.load(data_dir=self.data_dir))
        with service, service.governance.session() as s:
            return [
                {"action": e.action, "actor": e.actor, "details": e.details} for e in entries(s)
            ]


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _save(path: Path, rgb: np.ndarray, quality: int = 92) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, quality=quality)
    return path


def make_photos(root: Path, astronaut: np.ndarray, others: list[np.ndarray]) -> tuple[Path, Path]:
    """The gallery photos with a manifest (provenance with source pages), and a two-face probe."""
    photos = root / "photos"
    rows = []

    def add(name: str, rgb: np.ndarray, title: str, day: int) -> None:
        _save(photos / name, rgb)
        rows.append(
            {
                "path": name,
                "source_url": f"https://evidence.example.org/files/{name}",
                "page_url": f"https://evidence.example.org/items/{Path(name).stem}",
                "title": title,
                "captured_at": f"2024-05-{day:02d}",
                "collection": "seized-2024",
            }
        )

    astro = Image.fromarray(astronaut)
    add("astronaut.jpg", astronaut, "Portrait, device 14", 2)
    add("astronaut-small.jpg", np.asarray(astro.resize((384, 384))), "Thumbnail, device 14", 3)
    add("hopper.jpg", others[0], "Portrait, archive box 3", 4)
    for i, face in enumerate(others[1:13]):
        big = np.asarray(Image.fromarray(face).resize((200, 200), Image.Resampling.BICUBIC))
        add(f"person-{i:02d}.jpg", big, f"Photo {i} from album 7", 5 + i)
    # One image with two faces, so that "other faces of the same image" shows.
    pair = Image.new("RGB", (800, 420), (235, 235, 235))
    pair.paste(astro.resize((400, 400)), (0, 10))
    pair.paste(Image.fromarray(others[0]).resize((340, 400)), (440, 10))
    add("pair.jpg", np.asarray(pair), "Group photo, device 14", 20)
    manifest = photos / "manifest.csv"
    with manifest.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    # The probe: another rendering of the astronaut beside Grace Hopper (two faces).
    probe_img = Image.new("RGB", (900, 480), (250, 250, 250))
    probe_img.paste(ImageEnhance.Brightness(astro.resize((440, 440))).enhance(1.1), (10, 20))
    probe_img.paste(Image.fromarray(others[0]).resize((380, 446)), (480, 17))
    probe = _save(root / "probe-two-faces.jpg", np.asarray(probe_img))
    return manifest, probe


def make_media(root: Path, probe: Path, photos: Path) -> dict[str, Path]:
    """Seized material: for CASE the two-face probe, a small astronaut and a known file (its
    MD5 in a plain hash list); for OTHER_CASE another rendering of the astronaut."""
    import hashlib

    seized, other = root / "seized" / CASE, root / "seized" / OTHER_CASE
    seized.mkdir(parents=True)
    other.mkdir(parents=True)
    (seized / "IMG_0001.jpg").write_bytes(probe.read_bytes())
    astro = Image.open(photos / "astronaut.jpg").convert("RGB")
    _save(seized / "DCIM" / "IMG_0002.jpg", np.asarray(astro.resize((300, 300))))
    known = (photos / "person-00.jpg").read_bytes()
    (seized / "DCIM" / "IMG_0003.jpg").write_bytes(known)
    _save(other / "frame.jpg", np.asarray(ImageEnhance.Contrast(astro).enhance(1.2)))
    hashes = root / "known-md5.txt"
    hashes.write_text(hashlib.md5(known).hexdigest() + "\n", encoding="utf-8")
    return {CASE: seized, OTHER_CASE: other, "hashes": hashes}


def prepare_media(service: Any, media: dict[str, Path]) -> int:
    """The hash set, both cases' media imported and clustered, the cross-check; CASE's faces."""
    from facesearch.app.media import media_service

    svc = media_service(service)
    svc.import_hash_set("admin", media["hashes"], name="known-md5", category=KNOWN_CATEGORY)
    report = svc.import_media("ivy", CASE, [media[CASE]], set_name="phone-1", workers=0)
    svc.import_media(OTHER_INVESTIGATOR, OTHER_CASE, [media[OTHER_CASE]], workers=0)
    svc.cluster("ivy", CASE)
    svc.cluster(OTHER_INVESTIGATOR, OTHER_CASE)
    svc.crosscheck("ivy", CASE)
    return int(report.faces)


def prepare_data(
    data_dir: Path, manifest: Path, astronaut_probe: Path, media: dict[str, Path]
) -> int:
    """Users of each role, the policy, an approved case, the gallery and media sets, via the
    library; answers the number of faces in CASE's media set."""
    from facesearch.app.service import SearchRequest, Service
    from facesearch.settings import Settings

    # the policy is in place before init, so it is the first one in force (a policy file
    # changed later is a pending change that two administrators must approve)
    text = (resources.files("facesearch.govern") / "default_policy.toml").read_text("utf-8")
    for old, new in POLICY_CHANGES.items():
        assert old in text, f"the default policy no longer has {old!r}"
        text = text.replace(old, new)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "policy.toml").write_text(text, encoding="utf-8")
    with Service.for_cli(Settings.load(data_dir=data_dir)) as first:
        first.library.initialise("admin", PASSWORD, USERS["admin"][1])

    service = Service.for_cli(Settings.load(data_dir=data_dir))  # the policy above in force
    try:
        gov = service.governance
        for name, (role, display) in USERS.items():
            if name != "admin":
                add_user_approved(gov, "admin", name, [role], PASSWORD, display)
        admin = service.accounts.principal("admin", "cli")
        service.library.ingest(admin, [], manifest=manifest, workers=1)
        gov.open_case("ivy", CASE, "threat-to-life", "Order 2026-17", "threats made by phone")
        gov.approve_case("sam", CASE, "urgent: threat to life")
        gov.add_user("admin", OTHER_INVESTIGATOR, ["investigator"], PASSWORD, "Iris Other")
        gov.open_case(
            OTHER_INVESTIGATOR,
            OTHER_CASE,
            "cse-victim-id",
            "Warrant 9/2026",
            "seized phone, victim id",
        )
        gov.approve_case("sam", OTHER_CASE, "victim identification")
        media_faces = prepare_media(service, media)
        # One search already there (the astronaut alone), for the tests that read results.
        ivy = service.accounts.principal("ivy", "cli")
        service.searches.search(ivy, CASE, astronaut_probe.read_bytes(), SearchRequest(k=12))
    finally:
        service.close()
    return media_faces


@pytest.fixture(scope="session")
def web_server(
    tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray, other_faces: list[np.ndarray]
) -> Iterator[WebServer]:
    require_chromium()
    import uvicorn

    from facesearch.serve.api.app import create_app
    from facesearch.settings import Settings

    root = tmp_path_factory.mktemp("web")
    manifest, probe = make_photos(root, astronaut, other_faces)
    ingest_root = root / "ingest-root"
    _save(ingest_root / "batch" / "hopper-again.jpg", other_faces[0][::2, ::2].copy())
    _save(
        ingest_root / "batch" / "person-x.jpg",
        np.asarray(Image.fromarray(other_faces[20]).resize((200, 200))),
    )
    (ingest_root / "batch" / "not-a-photo.jpg").write_bytes(b"this is not an image")
    data_dir = root / "data"
    media = make_media(root, probe, manifest.parent)
    media_faces = prepare_data(data_dir, manifest, manifest.parent / "astronaut-small.jpg", media)

    settings = Settings(data_dir=data_dir, ingest_roots=[ingest_root], ingest_workers=1)
    port = _free_port()
    app = create_app(settings, static_dir=STATIC)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="web-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield WebServer(
            f"http://127.0.0.1:{port}", data_dir, manifest.parent, ingest_root, probe, media_faces
        )
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def browser(web_server: WebServer) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        yield browser
        browser.close()


class Session:
    """One signed-in user in their own browser context; collects console errors (CSP)."""

    def __init__(self, browser: Any, server: WebServer) -> None:
        self.server = server
        self.context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _console(self, message: Any) -> None:
        # Refused requests (401 before sign-in, a wrong password) are answers, not faults;
        # script errors and CSP violations are.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def login(self, username: str, password: str = PASSWORD) -> Any:
        page = self.page
        page.goto(f"{self.server.url}/#/login")
        page.get_by_label("User name").fill(username)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Sign out").wait_for()
        page.locator("main h1", has_not_text="Sign in").wait_for()  # the landing page is shown
        return page

    def go(self, hash_route: str) -> Any:
        self.page.goto(f"{self.server.url}/{hash_route}")
        path = hash_route.lstrip("#").split("?")[0]
        self.page.locator(f'main[data-route="{path}"]').wait_for()
        return self.page

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def session_for(browser: Any, web_server: WebServer) -> Iterator[Any]:
    """``session_for("ivy")``: a signed-in browser session of that user (closed afterwards)."""
    opened: list[Session] = []

    def make(username: str | None = None) -> Session:
        s = Session(browser, web_server)
        opened.append(s)
        if username:
            s.login(username)
        return s

    yield make
    for s in opened:
        s.close()


# --- what every page visited must pass ------------------------------------------------

UNLABELLED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !el.getAttribute('aria-labelledby') && !(el.textContent || '').trim())
  .map((el) => el.outerHTML.slice(0, 120))"""

LOW_CONTRAST = """() => {
  const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => { const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
                               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const background = (el) => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
                                 if (c.length === 3 || c[3] > 0.5) return c.slice(0, 3); } return [255, 255, 255]; };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.offsetParent === null || el.closest('svg, canvas, [disabled]')) continue;
    if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const a = lum(rgb(getComputedStyle(el).color).slice(0, 3)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) bad.push(`${el.tagName} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return bad; }"""


# axe-core (the npm package, test-only: tests/support/js/package.json, installed by `npm ci`
# in that folder, as .ci/run does) checks each page against WCAG 2.x A/AA and best practice.
AXE_JS = REPO / "tests" / "support" / "js" / "node_modules" / "axe-core" / "axe.min.js"
AXE_MISSING = (
    "axe-core is not installed ({} not found): run `npm ci` in tests/support/js "
    "(the browser tests' accessibility checks need it; CI installs it)"
)
SERIOUS = ("serious", "critical")

# axe.run on the document; each violation as "rule (impact): help, the first nodes' targets".
AXE_RUN = """async (impacts) => {
  const result = await window.axe.run(document, { resultTypes: ['violations'] });
  return result.violations.filter((v) => impacts.includes(v.impact)).map((v) =>
    `${v.id} (${v.impact}): ${v.help}: ` +
    v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')} ${n.failureSummary || ''}`).join(' | '));
}"""


def axe_installed() -> bool:
    return AXE_JS.is_file()


def require_axe() -> None:
    """Skip without axe-core locally; under CI (the CI variable set) fail instead."""
    if not axe_installed():
        if os.environ.get("CI"):
            pytest.fail(AXE_MISSING.format(AXE_JS))
        pytest.skip(AXE_MISSING.format(AXE_JS))


def axe_violations(session: Any, impact: tuple[str, ...] = SERIOUS) -> list[str]:
    """axe-core's violations of the page as shown now, of the given impact levels.

    The app's CSP forbids inline scripts, so axe is not added as a <script>: its source is
    evaluated through the DevTools protocol (page.evaluate), which the CSP does not govern.
    """
    require_axe()
    page = session.page
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
    return list(page.evaluate(AXE_RUN, list(impact)))


def check_page(session: Any) -> None:
    """Labels on every visible control, readable contrast, no script error or CSP violation,
    and no serious or critical axe-core violation (checked where axe-core is installed: a
    warning without it locally, a failure under CI)."""
    page = session.page
    assert page.evaluate(UNLABELLED_CONTROLS) == []
    assert page.evaluate(LOW_CONTRAST) == []
    if axe_installed() or os.environ.get("CI"):
        found = axe_violations(session)
        assert found == [], found
    else:
        warnings.warn(AXE_MISSING.format(AXE_JS), stacklevel=2)
    assert session.errors == [], session.errors
