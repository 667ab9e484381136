"""Browser tests of the audit page (issue 23, finding 10): the audit-entry browser (filter by
who, an entry's detail, the CSV download), the signed-checkpoint state, chart labels drawn at
a readable size and figure tables that never overlap the charts. Debian's Chromium against the
session's real server (tests/support/web.py); the page passes :func:`check_page`."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from tests.support.web import WebServer, check_page

pytestmark = pytest.mark.slow

LABEL_SIZES = """() => [...document.querySelectorAll('#oversight svg text')].map((t) => {
  const svg = t.ownerSVGElement;
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return parseFloat(getComputedStyle(t).fontSize) * scale; })"""

OVERLAPS = """() => {
  const box = (el) => el.getBoundingClientRect();
  const meets = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
                          && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  const charts = [...document.querySelectorAll('#oversight figure.chart')];
  const tables = [...document.querySelectorAll('#oversight details.figures')];
  const bad = [];
  tables.forEach((t, i) => {
    charts.forEach((c, j) => {
      if (meets(box(t), box(c))) bad.push(`table ${i} over chart ${j}`); });
    tables.forEach((u, j) => {
      if (j > i && meets(box(t), box(u))) bad.push(`tables ${i} and ${j} meet`); });
    const cell = box(t.closest('.chart-cell'));
    const scroller = box(t.querySelector('.table-scroll'));
    if (scroller.right > cell.right + 0.5) bad.push(`table ${i} spills out of its cell`);
    if (box(t).top < box(charts[i]).bottom) bad.push(`table ${i} is not below its chart`);
  });
  return { bad, charts: charts.length, tables: tables.length,
           open: tables.filter((t) => t.open).length }; }"""


def _checkpoint(server: WebServer, tmp: Path) -> Any:
    """A signed checkpoint, made through the library as ``facesearch audit checkpoint`` does
    (the key kept outside the data directory)."""
    from facesearch.app.service import Service
    from facesearch.govern import checkpoint as ckpt
    from facesearch.settings import Settings

    key, _pub, _fp = ckpt.generate_key_files(tmp / "keys" / "audit.key")
    with Service.for_cli(Settings.load(data_dir=server.data_dir)) as service:
        auditor = service.accounts.principal("audrey", "cli")
        cp, _path = service.admin.checkpoint(auditor, tmp / "checkpoint.json", key)
    return cp


def test_audit_entries_checkpoint_and_readable_charts(
    session_for: Any, web_server: WebServer, tmp_path: Path
) -> None:
    cp = _checkpoint(web_server, tmp_path)
    session = session_for("audrey")
    page = session.page
    page.goto(f"{web_server.url}/#/cases/WEB-1-TYPO")  # a mistyped case address: refused
    page.locator(".error-box, [role=alert]").first.wait_for()
    assert any(
        e["action"] == "case.view.refused" and e["details"].get("case") == "WEB-1-TYPO"
        for e in web_server.audit_actions()
    )
    page = session.go("#/audit")

    # the signed checkpoint's state
    state = page.locator("#checkpoint")
    state.get_by_text("Last signed checkpoint").wait_for()
    text = state.inner_text()
    assert f"entry #{cp.seq}" in text and cp.fingerprint[:16] in text
    assert "yes: the log still holds that entry" in text
    assert re.search(r"Signed\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text)  # a readable date

    # the entries, newest first; filtered by who
    rows = page.locator("#entries tbody tr")
    rows.first.wait_for()
    assert rows.count() == 25
    seqs = [int(s) for s in page.locator("#entries tbody td:first-child").all_inner_texts()]
    assert seqs == sorted(seqs, reverse=True)
    page.get_by_label("Who (user name)").fill("ivy")
    page.get_by_role("button", name="Show entries").click()
    ivy = [e for e in web_server.audit_actions() if e["actor"] == "ivy"]
    page.locator("#entries .entries-count", has_text=f"of {len(ivy)},").wait_for()
    actors = page.locator("#entries tbody td:nth-child(3)").all_inner_texts()
    assert actors and set(actors) == {"ivy"}
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", rows.first.locator("td.time").inner_text()
    )

    # an entry's detail
    first_seq = page.locator("#entries tbody td:first-child").first.inner_text()
    page.get_by_role("button", name=f"Details of entry {first_seq}").click()
    detail = page.locator("#entries tr.entry-detail")
    detail.wait_for()
    assert "Previous hash" in detail.inner_text() and f"#{first_seq}" in detail.inner_text()
    assert (
        page.get_by_role("button", name=f"Details of entry {first_seq}").get_attribute(
            "aria-expanded"
        )
        == "true"
    )

    # the CSV download holds the same filtered entries
    with page.expect_download() as download:
        page.locator("#entries-csv").click()
    table = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    assert table[0][:4] == ["seq", "time", "actor", "action"]
    assert len(table) - 1 == len(ivy) and {row[2] for row in table[1:]} == {"ivy"}
    assert any(
        e["action"] == "audit.export" and e["actor"] == "audrey" for e in web_server.audit_actions()
    )

    # charts: labels at least 12 px; figure tables opened below their charts, never over them
    page.locator("#oversight figure.chart").first.wait_for()
    by_case = page.locator("#oversight figure.chart svg").nth(1).get_attribute("aria-label")
    assert "WEB-1:" in by_case
    assert re.search(r"refused \(unknown case\): 0 searches, [1-9]\d* refused", by_case)
    assert "TYPO" not in by_case  # not a case of its own
    sizes = page.evaluate(LABEL_SIZES)
    assert sizes and min(sizes) >= 12, sizes
    for summary in page.locator("#oversight details.figures summary").all():
        summary.click()
    found = page.evaluate(OVERLAPS)
    assert found["charts"] == found["tables"] == found["open"] == 4, found
    assert found["bad"] == [], found["bad"]
    page.set_viewport_size({"width": 560, "height": 900})  # a narrow screen: the same holds
    found = page.evaluate(OVERLAPS)
    assert found["bad"] == [] and min(page.evaluate(LABEL_SIZES)) >= 12, found
    page.set_viewport_size({"width": 1280, "height": 900})
    check_page(session)


@pytest.mark.parametrize("username", ["sam", "admin"])
def test_supervisors_and_administrators_browse_the_entries(session_for: Any, username: str) -> None:
    """What the page shows each role: the entries and the checkpoint state to both, the
    oversight report to the supervisor, the chain's verification to the administrator."""
    session = session_for(username)
    page = session.go("#/audit")
    page.locator("#entries tbody tr").first.wait_for()
    assert "checkpoint" in page.locator("#checkpoint").inner_text()
    assert page.locator("#oversight").count() == (1 if username == "sam" else 0)
    assert page.locator("#verify").count() == (1 if username == "admin" else 0)
    check_page(session)
