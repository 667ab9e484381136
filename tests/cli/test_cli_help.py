"""Every command's --help reads like a well-kept command line (issue 9, defect 4).

Walks the whole command tree that typer builds from the app, asks each command and
sub-command for its help on a wide terminal (nothing truncated), and fails on the oddities
the issue found: boolean options as ``--x / --no-x`` pairs (``--no-password /
--no-no-password``), Python types as value names (``<list[str]>``), defaults of ``None`` or
of a flag shown, and options without a word of help. Enum-like options must list their
choices.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from facesearch.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
ODDITIES = {
    "a --x / --no-x pair for one flag": re.compile(
        r"(?<![\w-])--([\w-]+)\s+(/\s+)?--no-\1(?![\w-])"
    ),
    "a negated flag as a default": re.compile(r"\[default: no-"),
    "a doubled negation": re.compile(r"--no-no-"),
    "a default of None": re.compile(r"\[default: None\]"),
    "a flag's default shown": re.compile(r"\[default: (True|False)\]"),
}
# Python type names as value names (typer 0.21+ prints them for every parameter, flags
# included, which is why pyproject keeps typer below 0.21).
PYTHON_TYPE = re.compile(r"<(list\[|bool>|str>|int>|float>|Path>)")


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


ALL_COMMANDS = list(_commands(typer.main.get_command(app)))


@functools.cache
def _help(path: tuple[str, ...]) -> str:
    result = runner.invoke(app, [*path, "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_walk_reaches_every_command() -> None:
    names = {" ".join(p) for p, _ in ALL_COMMANDS}
    assert len(names) > 45
    for expected in (
        "init", "search", "user add", "audit verify", "audit checkpoint", "eval", "serve",
    ):  # fmt: skip
        assert expected in names


@pytest.mark.parametrize(
    "path", [p for p, _ in ALL_COMMANDS], ids=lambda p: " ".join(p) or "(root)"
)
def test_help_has_no_oddities(path: tuple[str, ...]) -> None:
    text = _help(path)
    found = [what for what, pattern in ODDITIES.items() if pattern.search(text)]
    found += [
        f"a Python type name in {line!r}" for line in text.splitlines() if PYTHON_TYPE.search(line)
    ]
    assert not found, f"facesearch {' '.join(path)} --help shows {found}:\n{text}"


@pytest.mark.parametrize(
    "path, cmd", [pytest.param(p, c, id=" ".join(p) or "(root)") for p, c in ALL_COMMANDS]
)
def test_options_are_declared_cleanly(path: tuple[str, ...], cmd: Any) -> None:
    """One flag for one thing, and every option says what it is for."""
    for param in getattr(cmd, "params", []):
        if param.param_type_name != "option":
            continue
        where = f"facesearch {' '.join(path)} {param.opts[0]}"
        assert not (param.is_flag and param.secondary_opts), f"{where}: a flag pair"
        assert param.help, f"{where}: no help text"


@pytest.mark.parametrize(
    "path, choices",
    [  # ids: the command
        (("audit", "report"), "day|week|month"),
        (("case", "list"), "pending|open|rejected|closed"),
        (("review", "mark"), "possible_match|not_a_match|insufficient_quality"),
        (("eval",), "cfp-ff|cfp-fp|lfw|pairs|folders|manifest"),
        (("calibrate",), "cfp-ff|cfp-fp|lfw|pairs|folders|manifest"),
        (("user", "add"), "administrator, investigator, supervisor, auditor"),
    ],
)
def test_choices_are_listed(path: tuple[str, ...], choices: str) -> None:
    assert choices in _help(path)


def test_a_choice_outside_the_list_is_refused_with_the_list() -> None:
    result = runner.invoke(app, ["audit", "report", "--period", "year"], env=WIDE)
    assert result.exit_code == 2
    assert "day" in result.output and "month" in result.output


@pytest.mark.parametrize(
    "path, cmd", [pytest.param(p, c, id=" ".join(p)) for p, c in ALL_COMMANDS if p]
)
def test_command_summary_is_one_line(path: tuple[str, ...], cmd: Any) -> None:
    """A command's summary (its help's first paragraph) is what the parent's command list
    shows: a line break in it is kept there and cuts the sentence in the middle of the list."""
    summary = (cmd.help or "").strip().split("\n\n")[0]
    assert summary, f"facesearch {' '.join(path)} has no help"
    assert "\n" not in summary, (
        f"facesearch {' '.join(path)}: the first paragraph of its help spans lines, so its "
        f"parent's command list breaks it: {summary!r}"
    )
