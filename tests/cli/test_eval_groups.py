"""``facesearch eval DATA --groups FILE.csv``: the report files (HTML with embedded plots, PDF,
JSON), the flag at the data directory's policy factor, the summary the accountability report
shows, and clear errors for a bad label file (before anything is embedded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.cli import PASSWORD, CliUsers
from tests.support.group_faces import make_group_set
from typer.testing import CliRunner

from facesearch.app.service import Service
from facesearch.settings import Settings


@pytest.mark.shared_data
@pytest.mark.slow
def test_eval_groups_writes_the_report_flags_and_feeds_accountability(shared_faces, tmp_path):
    from facesearch.cli import app

    photos, labels = make_group_set(shared_faces, tmp_path)
    data = tmp_path / "data"
    with Service.for_cli(Settings.load(data_dir=data)) as service:
        service.library.initialise("admin", PASSWORD)
    policy = data / "policy.toml"
    policy.write_text(
        policy.read_text().replace("disparity_factor = 1.5", "disparity_factor = 4"), "utf-8"
    )
    out = tmp_path / "report"
    args = ["-d", str(data), "eval", str(photos), "--groups", str(labels), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--workers", "0", "--sface-only"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    # worse: FNMR 15/18 or more; better: 3/18 or more: 5x apart at most, over 4x
    assert "cohort=worse: FNMR" in text and "more than 4x the best group's (better:" in text
    assert f"factor from policy {policy}" in text and "by sex at threshold" in text
    assert "FNMR by age gap (years): 0-2:" in text
    d = json.loads((out / "groups.json").read_text())
    assert d["disparity_factor"] == 4.0 and d["n_images"] == 24
    assert [
        (f["column"], f["group"], f["metric"]) for f in d["flags"] if f["metric"] == "FNMR"
    ] == [("cohort", "worse", "FNMR")]
    assert "Wilson" in d["method"]
    html = (out / "groups.html").read_text()
    assert html.count("src='data:image/png;base64,") == 2  # a DET plot for cohort and for sex
    assert "Accuracy by group" in html and "FNMR by age gap" in html
    assert (out / "groups.pdf").read_bytes()[:5] == b"%PDF-"
    summary = json.loads((data / "reports" / "accuracy-groups.json").read_text())
    assert summary["dataset"] == str(photos) and summary["model_key"].startswith("sface")
    assert any(f.startswith("cohort=worse: FNMR") for f in summary["flags"])

    users = CliUsers(data)
    acc = CliRunner().invoke(
        app, ["-d", str(data), "reports", "accountability"], env=users.env("admin")
    )
    assert acc.exit_code == 0, acc.output
    shown = json.loads(acc.output)["accuracy_groups"]
    assert shown["flags"] == summary["flags"] and shown["date"] == summary["date"]
    page = tmp_path / "accountability.html"
    args = ["-d", str(data), "reports", "accountability", "--format", "html", "--out", str(page)]
    assert CliRunner().invoke(app, args, env=users.env("admin")).exit_code == 0
    assert "<h2>Accuracy by group</h2>" in page.read_text() and "cohort=worse" in page.read_text()
    pdf = tmp_path / "accountability.pdf"
    args = [*args[:5], "pdf", "--out", str(pdf)]
    assert CliRunner().invoke(app, args, env=users.env("admin")).exit_code == 0
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_eval_groups_refuses_a_bad_label_file_before_embedding(tmp_path: Path) -> None:
    from facesearch.cli.evaluate import make_app

    for person in ("p1", "p2"):
        (tmp_path / "photos" / person).mkdir(parents=True)
        for j in range(2):
            (tmp_path / "photos" / person / f"{j}.jpg").write_bytes(b"not decoded: never read")
    bad = tmp_path / "labels.csv"
    bad.write_text("identity,sex\np1,F\np3,M\np1,M\n", encoding="utf-8")
    result = CliRunner().invoke(
        make_app(), ["eval", str(tmp_path / "photos"), "--groups", str(bad), "--workers", "0"]
    )
    assert result.exit_code == 2
    text = " ".join(result.output.replace("│", " ").split())
    assert "2 problems in the group labels (nothing was evaluated)" in text
    assert "line 3: identity 'p3' is not in the data set" in text
    assert "line 4: identity 'p1' is given again (first on line 2)" in text
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("img_a,img_b,same_person\nphotos/p1/0.jpg,photos/p2/0.jpg,0\n", "utf-8")
    result = CliRunner().invoke(make_app(), ["eval", str(pairs), "--groups", str(bad)])
    assert result.exit_code == 2 and "photos labelled by identity" in result.output
