"""``facesearch embed`` and ``compare``: the engine on photos the caller holds (no gallery)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from facesearch.cli.common import (
    DataDirOption,
    console,
    err_console,
    friendly_errors,
)


class FaceRuleChoice(StrEnum):
    """Which face of a photo is compared when none is given."""

    LARGEST = "largest"
    CENTRAL = "central"


def embed(
    files: Annotated[list[Path], typer.Argument(help="Image files.")],
    json_out: Annotated[
        bool,
        typer.Option("--json", help="JSON Lines (the only format).", show_default=False),
    ] = True,
) -> None:
    """Print one JSON line per detected face: box, landmarks, quality, model, embedding."""
    from facesearch.app.tools import embed_rows
    from facesearch.settings import Settings

    with friendly_errors():
        for row in embed_rows(Settings.load(), files):
            _jsonl(row)


def _jsonl(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")


def compare(
    a: Annotated[Path | None, typer.Argument(help="First photo.")] = None,
    b: Annotated[Path | None, typer.Argument(help="Second photo.")] = None,
    pairs: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="TSV of image pairs to score: A<TAB>B per line, optionally <TAB>FACE_A<TAB>FACE_B "
            "(face numbers; empty = the rule's face).",
        ),
    ] = None,
    face_a: Annotated[
        int | None,
        typer.Option("--face-a", min=0, help="Face of A to compare (0 = largest; see the list)."),
    ] = None,
    face_b: Annotated[
        int | None,
        typer.Option("--face-b", min=0, help="Face of B to compare (0 = largest)."),
    ] = None,
    face_rule: Annotated[
        FaceRuleChoice,
        typer.Option(
            "--face-rule",
            help="Face compared when none is given: 'largest' (as Rekognition) or 'central' "
            "(box centre nearest the image centre).",
        ),
    ] = FaceRuleChoice.LARGEST,
    json_out: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """1:1 verification: similarity of a face in A and one in B, and the decision.

    Every face found in each photo is listed with the one compared; a photo whose two largest
    faces are of similar size is reported ambiguous (a warning and a JSON field). Compares the
    photos given; it does not search or touch a gallery.
    """
    from facesearch.app.tools import PairError, check_rule, compare_pair_file, compare_photos
    from facesearch.settings import Settings

    with friendly_errors():
        settings = Settings.load(data_dir=data_dir)
        check_rule(str(face_rule))
        if pairs is not None:
            if face_a is not None or face_b is not None:
                raise PairError(
                    "--face-a/--face-b are for two photos; with --pairs give the faces in the "
                    "pair file's face columns"
                )
            _print_pair_rows(compare_pair_file(settings, pairs, str(face_rule)), json_out)
            return
        if a is None or b is None:
            raise PairError("give two photos, or --pairs FILE")
        result = compare_photos(settings, a, b, face_a=face_a, face_b=face_b, rule=str(face_rule))
    for side, photo, option in (("a", a, "--face-a N"), ("b", b, "--face-b N")):
        choice = result.choice(side)
        if choice.decided_by_rule:
            err_console.print(
                f"[yellow]warning:[/] {choice.warning(f'{side.upper()} ({photo})', option)}"
            )
    if json_out:
        _jsonl({"a": str(a), "b": str(b), **result.to_dict()})
        return
    for side, photo in (("a", a), ("b", b)):
        _print_faces(f"{side.upper()} {photo}", result.choice(side))
    verdict = (
        "[green]same person (possible match)[/]" if result.same else "[red]different people[/]"
    )
    scored_by = "SFace + dlib, fused" if result.fused else "SFace"
    console.print(
        f"similarity {result.score:.4f} ({result.band}; {scored_by}); threshold "
        f"{result.threshold}: {verdict}"
    )
    console.print(f"[dim]{result.notice}[/]")


def _print_faces(label: str, choice: Any) -> None:
    """One photo's faces, the compared one starred, and how it was chosen."""
    n = len(choice.faces)
    console.print(
        f"{label}: {n} face{'s' if n != 1 else ''}; compared face {choice.used} "
        f"({choice.chosen_by})" + (", [yellow]ambiguous[/]" if choice.ambiguous else "")
    )
    for f in choice.faces:
        mark = "*" if f.index == choice.used else " "
        flags = f", flagged {','.join(f.flags)}" if f.flags else ""
        console.print(
            f"  {mark} face {f.index}: box {list(f.bbox)}, quality {f.quality:.2f}{flags}"
        )


def _print_pair_rows(rows: Iterator[dict[str, Any]], json_out: bool) -> None:
    """``compare --pairs``: a line per pair (JSON or text), a warning per ambiguous photo
    whose face the rule picked (on stderr, so that the output stays one row per pair)."""
    warned = 0
    for row in rows:
        if json_out:
            _jsonl(row)
        else:
            console.print(
                f"{row['score'] if row['score'] is not None else '-':>7}  "
                f"{'same' if row['same'] else 'different':9}  {row['a']}  {row['b']}  "
                f"faces {_face_used(row, 'a')} {_face_used(row, 'b')}"
                + (f"  ({row['error']})" if row.get("error") else "")
            )
        for side in ("a", "b"):
            if row[f"ambiguous_{side}"] and row.get(f"chosen_{side}") not in (None, "given"):
                warned += 1
                if not json_out:
                    err_console.print(
                        f"[yellow]warning:[/] line {row.get('line', '?')}: {row[side]} holds "
                        f"faces of similar size; compared face {row[f'face_{side}']['index']} "
                        f"({row[f'chosen_{side}']}). Choose it in the face_{side} column."
                    )
    if warned and json_out:
        err_console.print(
            f"[yellow]warning:[/] {warned} photo(s) hold faces of similar size and were "
            "compared on the rule's face (ambiguous_a/ambiguous_b in the rows); choose their "
            "faces in the pair file's face columns."
        )


def _face_used(row: dict[str, Any], side: str) -> str:
    """'0/2': face 0 of 2 compared (or '-/2' when none could be)."""
    face = row[f"face_{side}"]
    return f"{face['index'] if face else '-'}/{len(row[f'faces_{side}'])}"
