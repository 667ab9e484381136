"""Pictures of results: a grid of the probe face and its candidates, for people to look at."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np

from facesearch.search.scoring import LEADS_NOTICE, SearchResult

if TYPE_CHECKING:
    from facesearch.store.ports import BlobStore

BAND_COLOURS = {"strong": (34, 139, 34), "possible": (218, 165, 32), "weak": (150, 150, 150)}
TILE = 160
LABEL_H = 54


def result_grid(
    result: SearchResult | Mapping[str, Any],
    probe_rgb: np.ndarray,
    blobs: BlobStore,
    columns: int = 5,
) -> bytes:
    """A PNG: the probe face, then each candidate's face crop with rank, score, band, source.

    ``result`` is the engine's SearchResult or a governed search view (a dict with the same
    fields: probe_sha256, model, face, probe_faces, candidates).
    """
    from PIL import Image, ImageDraw, ImageFont

    view = asdict(result) if isinstance(result, SearchResult) else dict(result)
    font = ImageFont.load_default(size=13)
    candidates = view["candidates"]
    n = len(candidates)
    rows = max(1, -(-n // columns))
    width = TILE * (columns + 1) + 20
    height = 40 + rows * (TILE + LABEL_H) + 44
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.text(
        (10, 10), f"probe {view['probe_sha256'][:12]}  model {view['model']}", (0, 0, 0), font
    )

    faces, chosen = view.get("probe_faces") or [], view.get("face")
    face = faces[chosen] if faces and chosen is not None else None
    if face is not None:
        x, y, w, h = (int(v) for v in face["bbox"])
        crop = probe_rgb[max(0, y) : y + h, max(0, x) : x + w]
        if crop.size:
            canvas.paste(_fit(Image.fromarray(crop)), (10, 40))
    draw.text((10, 40 + TILE + 4), "probe", (0, 0, 0), font)

    for i, cand in enumerate(candidates):
        col, row = i % columns, i // columns
        left, top = 20 + TILE * (col + 1), 40 + row * (TILE + LABEL_H)
        if cand["crop"] and blobs.exists(cand["crop"]):
            tile = Image.open(io.BytesIO(blobs.get(cand["crop"]))).convert("RGB")
            canvas.paste(_fit(tile), (left, top))
        colour = BAND_COLOURS.get(cand["band"], (0, 0, 0))
        draw.rectangle([left, top, left + TILE - 1, top + TILE - 1], outline=colour, width=4)
        provenance = cand.get("provenance") or [{}]
        source = provenance[0].get("collection", "")
        image_path = cand.get("image_path") or provenance[0].get("path") or ""
        draw.text(
            (left + 4, top + TILE + 2),
            f"#{cand['rank']}  {cand['score']:.3f}  {cand['band']}",
            colour,
            font,
        )
        draw.text((left + 4, top + TILE + 18), _short(source, 22), (60, 60, 60), font)
        draw.text(
            (left + 4, top + TILE + 34),
            _short(image_path.split("/")[-1], 22),
            (60, 60, 60),
            font,
        )
    notice = textwrap.wrap(LEADS_NOTICE, width=max(40, width // 7))
    for i, line in enumerate(notice[:2]):
        draw.text((10, height - 38 + 16 * i), line, (120, 0, 0), font)
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


def _fit(img: Any) -> Any:
    from PIL import Image

    scale = TILE / max(img.width, img.height)
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    tile = Image.new("RGB", (TILE, TILE), (240, 240, 240))
    tile.paste(img, ((TILE - img.width) // 2, (TILE - img.height) // 2))
    return tile


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
