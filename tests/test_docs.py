"""The documentation keeps up with the code (issue 20, Build step 7).

docs/cli.md is written by hand, not generated: these tests walk the command tree typer builds
from ``facesearch.cli.app`` and fail when a command, a sub-command or an option is missing
from it (or when it documents one that no longer exists), and when a ``facesearch ...`` line
in a code block of README.md, docs/*.md or benchmarks/README.md names a command or an option
that does not exist. They also hold the README to its size, check every relative link (and
its heading anchor) and code fence in those pages, and check that the README's two set-up
commands are the ones the Makefile and .ci/run define. Whether each command's --help reads
well is tests/cli/test_cli_help.py's job.
"""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer

from facesearch.cli import app

# The repository root, wherever tests/ puts this file.
REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
README = REPO / "README.md"
DOCS = REPO / "docs"
CLI_DOC = DOCS / "cli.md"
README_MAX_LINES = 300

# Options every command takes, documented once in cli.md's "Options every command takes".
COMMON_OPTIONS = {
    "--as", "--token", "--token-file", "--password-stdin", "--data-dir", "--database-url",
    "--help",
}  # fmt: skip

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
COMMAND_HEADING = re.compile(r"^`facesearch((?: [a-z][a-z0-9-]*)*)`$")
# [text](target) and ![alt](target); the target ends at whitespace or the closing paren.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")


# --- the command tree ------------------------------------------------------------------------


def _walk(cmd: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    if getattr(cmd, "hidden", False):
        return
    if path:
        yield " ".join(path), cmd
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _walk(sub, (*path, name))


ROOT = typer.main.get_command(app)
COMMANDS = dict(_walk(ROOT))


def _option_names(cmd: click.Command) -> list[str]:
    """The name a reader looks for: each visible option's first long form (or its only
    short form, e.g. ``-k``)."""
    names = []
    for param in cmd.params:
        if not isinstance(param, click.Option) or param.hidden:
            continue
        longs = [o for o in param.opts if o.startswith("--")]
        names.append(longs[0] if longs else param.opts[0])
    return names


# --- reading Markdown ------------------------------------------------------------------------


def _prose_lines(text: str) -> Iterator[tuple[int, str, bool]]:
    """(line number, line, inside a code fence) for every line of a Markdown text."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            yield number, line, True
            continue
        yield number, line, fenced


def _command_sections(text: str) -> dict[str, str]:
    """Each ``facesearch ...`` heading of cli.md -> the text under it, up to the next heading
    of any level."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for _, line, fenced in _prose_lines(text):
        heading = None if fenced else HEADING.match(line)
        if heading:
            named = COMMAND_HEADING.match(heading.group(2))
            current = None
            if named:
                path = named.group(1).strip()
                assert path not in sections, f"docs/cli.md documents `facesearch {path}` twice"
                current = sections[path] = []
            continue
        if current is not None:
            current.append(line)
    return {path: "\n".join(lines) for path, lines in sections.items()}


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in {"L", "N"})
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for _, line, fenced in _prose_lines(path.read_text(encoding="utf-8")):
        heading = None if fenced else HEADING.match(line)
        if not heading:
            continue
        slug = _slug(heading.group(2))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def _links(path: Path) -> Iterator[tuple[int, str]]:
    for number, line, fenced in _prose_lines(path.read_text(encoding="utf-8")):
        if fenced:
            continue
        for match in LINK.finditer(line):
            yield number, match.group(1)


MARKDOWN = [README, *sorted(DOCS.glob("*.md")), REPO / "benchmarks" / "README.md"]


# --- docs/cli.md -----------------------------------------------------------------------------


def test_the_walk_finds_the_command_tree() -> None:
    assert len(COMMANDS) > 45
    for expected in ("init", "search", "case open", "audit verify", "media import", "serve"):
        assert expected in COMMANDS


def test_every_command_and_subcommand_is_documented_in_cli_md() -> None:
    documented = _command_sections(CLI_DOC.read_text(encoding="utf-8"))
    missing = sorted(set(COMMANDS) - set(documented))
    assert not missing, "docs/cli.md has no section for: " + ", ".join(
        f"`facesearch {m}`" for m in missing
    )


def test_cli_md_documents_no_command_that_does_not_exist() -> None:
    documented = _command_sections(CLI_DOC.read_text(encoding="utf-8"))
    stale = sorted(set(documented) - set(COMMANDS))
    assert not stale, "docs/cli.md documents commands the CLI does not have: " + ", ".join(
        f"`facesearch {s}`" for s in stale
    )


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_option_of_a_command_is_in_its_section(path: str) -> None:
    section = _command_sections(CLI_DOC.read_text(encoding="utf-8")).get(path, "")
    missing = [
        name
        for name in _option_names(COMMANDS[path])
        if name not in COMMON_OPTIONS
        and not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", section)
    ]
    assert not missing, f"docs/cli.md, `facesearch {path}`: options not described: {missing}"


def test_the_options_every_command_takes_are_documented_once() -> None:
    text = CLI_DOC.read_text(encoding="utf-8")
    start = text.index("## Options every command takes")
    common = text[start : text.index("\n## ", start + 1)]
    for name in sorted(COMMON_OPTIONS):
        assert f"`{name}" in common, f"docs/cli.md: {name} is not in 'Options every command takes'"
    seen = {n for cmd in [ROOT, *COMMANDS.values()] for n in _option_names(cmd)}
    assert COMMON_OPTIONS - {"--help"} <= seen, "a common option no command takes any more"


COMMAND_LINE = re.compile(r"^\s*(?:\$\s+)?facesearch\s+(.*)$")
GLOBAL_WITH_VALUE = {"-d", "--data-dir", "--database-url"}


def _resolve(words: list[str]) -> tuple[str, list[str]]:
    """The command path a ``facesearch ...`` line names, and the options it uses."""
    words = [w for w in words if w not in {"|", "\\"}]
    while words and words[0] in GLOBAL_WITH_VALUE:
        words = words[2:]
    cmd: click.Command = ROOT
    path: list[str] = []
    while isinstance(cmd, click.Group) and words and words[0] in cmd.commands:
        path.append(words.pop(0))
        cmd = cmd.commands[path[-1]]
    options = [w.split("=")[0] for w in words if re.fullmatch(r"--?[a-z][\w-]*(=\S*)?", w)]
    return " ".join(path), options


def _command_lines(doc: Path) -> Iterator[tuple[int, str]]:
    for number, line, fenced in _prose_lines(doc.read_text(encoding="utf-8")):
        match = COMMAND_LINE.match(line) if fenced else None
        if match:
            yield number, match.group(1).split(" #", 1)[0]


@pytest.mark.parametrize("doc", MARKDOWN, ids=lambda p: str(p.relative_to(REPO)))
def test_every_command_line_in_the_docs_runs_a_real_command(doc: Path) -> None:
    """Each ``facesearch ...`` line of a code block (the quickstart, cli.md's usage lines)
    names a command that exists, with options that command takes."""
    wrong = []
    for number, rest in _command_lines(doc):
        words = re.sub(r"[\[\]()]", " ", rest).split()
        path, options = _resolve(words)
        if path not in COMMANDS or isinstance(COMMANDS[path], click.Group):
            wrong.append(f"{doc.name}:{number}: `facesearch {rest.strip()}` names no command")
            continue
        known = {o for p in COMMANDS[path].params if isinstance(p, click.Option) for o in p.opts}
        known |= {o for p in ROOT.params for o in p.opts} | {"--help"}
        wrong += [
            f"{doc.name}:{number}: `facesearch {path}` has no option {o}"
            for o in options
            if o not in known
        ]
    assert not wrong, "\n".join(wrong)


def test_the_command_line_reader_finds_path_and_options() -> None:
    assert _resolve(["-d", "DIR", "case", "open", "C-1", "--purpose", "p", "--as", "ivy"]) == (
        "case open",
        ["--purpose", "--as"],
    )
    assert _resolve(["nonsense", "--x"]) == ("", ["--x"])


def test_the_section_finder_reads_headings_and_skips_code() -> None:
    text = (
        "## `facesearch case`\nCases.\n#### `facesearch case open`\n```\n"
        "# `facesearch not-a-heading`\n--purpose KEY\n```\nAfter.\n## Other\n--elsewhere\n"
    )
    sections = _command_sections(text)
    assert set(sections) == {"case", "case open"}
    assert "--purpose" in sections["case open"] and "After." in sections["case open"]
    assert "--elsewhere" not in sections["case open"]


# --- README.md -------------------------------------------------------------------------------


def test_readme_is_at_most_300_lines() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move detail to docs/"
    )


def _make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*):", text, flags=re.MULTILINE))


def test_readme_set_up_commands_are_the_ones_the_repository_defines() -> None:
    readme = README.read_text(encoding="utf-8")
    start = readme.index("## Set-up")
    block = re.search(r"```(?:bash|sh|console)?\n(.*?)```", readme[start:], flags=re.DOTALL)
    assert block, "README.md: no code block under 'Set-up'"
    commands = [
        line.split("#", 1)[0].strip()
        for line in block.group(1).splitlines()
        if line.split("#", 1)[0].strip()
    ]
    assert commands == ["make demo", "bash .ci/run"]
    assert "demo" in _make_targets()
    ci = REPO / ".ci" / "run"
    assert ci.is_file()
    # .ci/run installs, then runs the test command the README names for `make test`.
    assert re.search(r"^make test$", ci.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert {"test", "check"} <= _make_targets()


def test_readme_install_lines_of_the_extras_are_the_ones_check_extras_runs() -> None:
    """Each optional extra's install line in the README is exactly the command that
    scripts/check_extras.py runs in a fresh venv (one per extra of pyproject.toml but dev),
    and .ci/run runs that script."""
    printed = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "check_extras.py"), "--print-commands"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    readme = [
        line.split("#", 1)[0].strip()
        for line in README.read_text(encoding="utf-8").splitlines()
        if line.startswith("pip install '.[")
    ]
    assert printed and readme == printed
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^python scripts/check_extras\.py$", ci, flags=re.MULTILINE)


def test_readme_points_at_every_doc() -> None:
    targets = {target.split("#")[0] for _, target in _links(README)}
    for doc in sorted(DOCS.glob("*.md")):
        assert f"docs/{doc.name}" in targets, f"README.md does not link docs/{doc.name}"


# --- links -----------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", MARKDOWN, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_at_a_file_that_exists(doc: Path) -> None:
    broken = []
    for number, target in _links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.IGNORECASE):
            continue  # http:, https:, mailto:
        file_part, _, anchor = target.partition("#")
        where = (doc.parent / file_part).resolve() if file_part else doc
        if not where.exists():
            broken.append(f"{doc.name}:{number}: {target} (no such file)")
        elif anchor and where.suffix == ".md" and anchor not in _anchors(where):
            broken.append(f"{doc.name}:{number}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


@pytest.mark.parametrize("doc", MARKDOWN, ids=lambda p: str(p.relative_to(REPO)))
def test_every_code_fence_is_closed(doc: Path) -> None:
    """An unclosed fence turns the rest of the page into code (and hides its links from the
    test above)."""
    opened = [
        n for n, line, _ in _prose_lines(doc.read_text(encoding="utf-8")) if FENCE.match(line)
    ]
    assert len(opened) % 2 == 0, f"{doc.name}: the code fence at line {opened[-1]} is not closed"


@pytest.mark.parametrize(
    "heading, slug",
    [
        ("serve_load.py — the server under load", "serve_loadpy--the-server-under-load"),
        ("Multi-probe search (issue 12, item 5)", "multi-probe-search-issue-12-item-5"),
        ("`facesearch case open`", "facesearch-case-open"),
        ("Beyond one machine: four URLs", "beyond-one-machine-four-urls"),
    ],
)
def test_anchors_are_made_as_github_makes_them(heading: str, slug: str) -> None:
    assert _slug(heading) == slug
