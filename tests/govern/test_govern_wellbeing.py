"""Each user's wellbeing setting (the policy may force the blur), an administrator renaming a
user, and an administrator asking to put a checked policy in force (issue 23, finding 14)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from tests.support.cli import init_args, init_input, make_token
from tests.support.govern import (  # noqa: F401
    World,
    engine,
    make_world,
    policy_with,
    second_admin,
    world,
)
from typer.testing import CliRunner

from facesearch.app.service import Service
from facesearch.cli import app
from facesearch.govern import Governance, PolicyError, RefusedError, default_policy, parse_policy
from facesearch.govern import changes as changes_mod
from facesearch.govern import users as users_mod
from facesearch.govern.wellbeing import Wellbeing, set_wellbeing, wellbeing_of
from facesearch.settings import Settings

FORCED = "\n[wellbeing]\nforce_blur = true\n"


def _set(w: World, actor: str, grey: bool, blur: bool) -> Wellbeing:
    gov = w.gov
    return gov.run(
        actor,
        "user.wellbeing",
        {},
        lambda s, a: set_wellbeing(s, a, gov.policy, actor, grey, blur, w.clock()),
    )


def _get(w: World, who: str) -> Wellbeing:
    with w.gov.session() as s:
        return wellbeing_of(s, w.gov.policy, who)


def test_defaults_then_own_change_audited(world: World) -> None:  # noqa: F811
    assert _get(world, "alice") == Wellbeing(False, True, False)
    assert _set(world, "alice", True, False) == Wellbeing(True, False, False)
    assert _get(world, "alice") == Wellbeing(True, False, False)
    assert _get(world, "bob") == Wellbeing()  # one's own setting only
    entry = world.last_entry("user.wellbeing")
    assert entry.actor == "alice" and entry.details["to"] == {
        "greyscale": True,
        "blur_outside_face": False,
    }


def test_a_forced_blur_cannot_be_turned_off_and_overrides_a_stored_choice(
    engine: Engine,  # noqa: F811
) -> None:
    free = make_world(engine)
    _set(free, "alice", False, False)
    forced = parse_policy(default_policy().text + FORCED, "<forced>")
    assert forced.wellbeing.force_blur and "always blurred" in forced.describe()
    gov = Governance(sessionmaker(engine), forced)
    # the database's policy stays in force until two administrators approve the file's
    change = gov.pending_policy_change()
    assert change is not None
    gov.approve_change("admin", change)
    gov.approve_change(second_admin(gov), change)
    w = World(gov, free.clock, free.backend, free.sessions, free.faces)
    assert _get(w, "alice") == Wellbeing(False, True, True)  # her "off" is overridden
    with pytest.raises(RefusedError, match="force_blur"):
        _set(w, "alice", True, False)
    assert w.last_entry().action == "user.wellbeing.refused"
    assert _set(w, "alice", True, True).greyscale is True


def test_a_wellbeing_section_is_checked_like_the_others() -> None:
    with pytest.raises(PolicyError, match=r"wellbeing\.force_blur"):
        parse_policy(default_policy().text + "\n[wellbeing]\nforce_blur = 1\n")
    with pytest.raises(PolicyError, match=r"wellbeing\.blur"):
        parse_policy(default_policy().text + "\n[wellbeing]\nforce_blur = true\nblur = 1\n")
    assert default_policy().wellbeing.force_blur is False


def test_an_administrator_renames_a_user(world: World) -> None:  # noqa: F811
    gov = world.gov
    gov.run(
        "admin",
        "user.rename",
        {},
        lambda s, a: users_mod.set_display_name(s, a, "admin", "alice", " Alice A. "),
    )
    assert world.last_entry("user.rename").details["to"] == "Alice A."
    with pytest.raises(RefusedError, match="lacks the role"):
        gov.run(
            "bob",
            "user.rename",
            {},
            lambda s, a: users_mod.set_display_name(s, a, "bob", "alice", "x"),
        )


def _ask(w: World, actor: str, text: str) -> changes_mod.ChangeView:
    policy = parse_policy(text, "<asked>")
    gov = w.gov

    def fn(s: object, a: object) -> changes_mod.ChangeView:
        row = changes_mod.request_policy(
            s,  # type: ignore[arg-type]
            a,  # type: ignore[arg-type]
            actor,
            policy.sha256,
            policy.text,
            policy.source,
            gov.policy.sha256,
            w.clock(),
        )
        return changes_mod.ChangeView.of(row)

    return gov.run(actor, "policy.request", {}, fn)


def test_a_policy_asked_for_by_one_administrator_is_put_in_force_by_another(
    engine: Engine,  # noqa: F811
) -> None:
    w = make_world(engine)
    gov = w.gov
    other = second_admin(gov)
    new = default_policy().text.replace("max_candidates = 20", "max_candidates = 7")
    with pytest.raises(RefusedError, match="lacks the role"):
        _ask(w, "alice", new)
    with pytest.raises(RefusedError, match="already in force"):
        _ask(w, "admin", default_policy().text)
    change = _ask(w, "admin", new)
    pending = gov.pending_policy()
    assert pending is not None and pending.recorded_by == "admin"
    assert pending.approvals == ("admin",)
    with pytest.raises(RefusedError, match="two-person rule"):
        gov.approve_change("admin", change.id)
    done = gov.approve_change(other, change.id)
    assert done.status == "approved"
    assert gov.policy.search.max_candidates == 7
    # a process started later with the old policy.toml (in force before) does not ask to go
    # back to it: the file is stale, not a change
    later = Governance(sessionmaker(engine), default_policy())
    assert later.policy.search.max_candidates == 7
    assert later.pending_policy() is None


def test_a_newer_request_supersedes_a_pending_policy(world: World) -> None:  # noqa: F811
    first = _ask(world, "admin", default_policy().text + "\n# first\n")
    second = _ask(world, "admin", default_policy().text + "\n# second\n")
    listed = {c.id: c.status for c in world.gov.list_changes("admin", None)}
    assert listed[first.id] == "superseded" and listed[second.id] == "pending"
    assert world.last_entry("change.superseded").actor == "admin"


def test_cli_equivalents_of_the_web_actions(tmp_path: Path) -> None:
    """`user rename`, `user wellbeing` and `change policy FILE` (then `change approve`)."""
    runner = CliRunner()
    data = tmp_path / "data"
    env: dict[str, str | None] = {"FACESEARCH_USER": None, "FACESEARCH_TOKEN": None}

    def run(*args: str, code: int = 0, stdin: str | None = None) -> str:
        result = runner.invoke(app, ["-d", str(data), *args], env=env, input=stdin)
        assert result.exit_code == code, result.output
        return " ".join(result.output.split())

    run(*init_args("admin", "root"), stdin=init_input("admin", "root"))
    admin, root = make_token(data, "admin"), make_token(data, "root")
    env["FACESEARCH_TOKEN"] = admin
    run("user", "add", "ivy", "--role", "investigator", "--no-password")
    assert "display name of ivy: Ivy I." in run("user", "rename", "ivy", "Ivy I.")
    assert "greyscale: off; blur outside the face: on" in run("user", "wellbeing")
    out = run("user", "wellbeing", "--greyscale", "on", "--blur", "off")
    assert "greyscale: on; blur outside the face: off" in out
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n", "utf-8")
    assert "purposes" in run("change", "policy", str(bad), code=1)
    new = tmp_path / "new.toml"
    new.write_text(default_policy().text.replace("max_candidates = 20", "max_candidates = 9"))
    out = run("change", "policy", str(new))
    change_id = re.search(r"change (\d+)", out)
    assert out.startswith("pending:") and change_id is not None
    env["FACESEARCH_TOKEN"] = root
    assert "approved" in run("change", "approve", change_id.group(1))
    with Service.for_cli(Settings.load(data_dir=data)) as service:
        assert service.governance.refresh_policy().search.max_candidates == 9
