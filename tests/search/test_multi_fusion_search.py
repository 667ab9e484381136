"""Search with an N-recognizer fusion: a gallery whose active recognizer is the test suite's
agency model (tests/support/agency_model.py), whose calibration records a fusion with SFace.

The gallery's SFace vectors are put in ``face_vectors`` (as a migration or a fusion pass would
leave them); the probe's SFace vector is made by the search (search/member_probe.py). Every
candidate's score is checked against the fusion record applied to vectors computed here; a face
without its SFace vector keeps the agency model's cosine and its own bands.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import write_image

from facesearch.engine.decode import decode_array, decode_file
from facesearch.engine.fusion import Member, MultiFusion
from facesearch.engine.pipeline import FacePipeline, PipelineSettings
from facesearch.models.card import parse_card, read_card
from facesearch.models.manifest import load_manifest
from facesearch.models.store import CALIBRATION_FILE, ModelStore
from facesearch.search.gallery import Gallery
from facesearch.search.scoring import Bands
from facesearch.store.crypto import seal_embedding
from facesearch.store.recognizers import set_active
from facesearch.store.schema import FaceVector

OWN = {"match": 0.93, "strong": 0.95}  # the agency model's own bands (made up, distinct)
FUSED = {"match": 0.91, "strong": 0.94}


def test_search_reranks_with_every_member_and_keeps_the_primary_where_one_is_missing(
    tmp_path: Path,
    agency_model: tuple[Path, Path],
    pipeline: FacePipeline,
    astronaut: np.ndarray,
    other_faces: list[np.ndarray],
) -> None:
    data_dir = tmp_path / "data"
    onnx, card = agency_model
    packaged = load_manifest()
    stored = ModelStore.of(data_dir).add(onnx, parse_card(read_card(card), packaged))
    primary_key = stored.spec.model_key
    sface_key = packaged.recognizer.model_key
    fusion = MultiFusion(
        (Member(primary_key, 0.80, 0.05, 0.6), Member(sface_key, 0.05, 0.09, 0.4)), "z"
    )
    record = {"thresholds": OWN, "fusion": {**fusion.to_dict(), "thresholds": FUSED}}
    (stored.folder / CALIBRATION_FILE).write_text(json.dumps(record))

    folder = tmp_path / "photos"
    write_image(folder / "astronaut.png", astronaut)
    for i, img in enumerate(other_faces[:6]):
        write_image(folder / f"other_{i}.png", img)
    # the default settings (fusion on); PipelineSettings(second_model=False) scores the
    # primary alone, as it does for the shipped fusion
    lean = PipelineSettings()
    g = Gallery.open(data_dir, pipeline_settings=lean)
    with g.catalog.session() as s:
        set_active(
            s,
            "test-resnet",
            primary_key,
            previous=packaged.default_recognizer,
            previous_model_key=sface_key,
            by="test",
        )
    g.close()

    g = Gallery.open(data_dir, pipeline_settings=lean)
    try:
        assert g.model_key == primary_key and g.scoring.multi == fusion
        assert g.scoring.fusion is None  # the shipped SFace+dlib fusion never mixes in
        g.ingest([folder], workers=0)
        ids = [int(i) for i in g.catalog.face_ids(primary_key, searchable_only=False)]
        faces = g.catalog.faces(ids)
        # the gallery's SFace vectors, made from the same photos (same detector, same faces)
        sface_of: dict[int, np.ndarray] = {}
        for face_id, sf in faces.items():
            img = decode_file(Path(sf.image_path))
            sface_of[face_id] = pipeline.process_image(img).faces[sf.face_index].embedding
        astro = next(i for i, sf in faces.items() if sf.image_path.endswith("astronaut.png"))
        missing = next(i for i in ids if i != astro)  # a face without its SFace vector
        with g.catalog.session() as s:
            for face_id, vec in sface_of.items():
                if face_id != missing:
                    sealed = seal_embedding(g.cipher, vec, face_id, sface_key)
                    s.add(
                        FaceVector(
                            face_id=face_id, model=sface_key, embedding=sealed, source="photo"
                        )
                    )

        probe = np.clip(astronaut.astype(int) - 40, 0, 255).astype(np.uint8)[:, ::-1].copy()
        result = g.search(probe, k=len(ids))
        assert result.model == primary_key
        assert result.thresholds == {
            "match": FUSED["match"],
            "strong": FUSED["strong"],
            "primary_match": OWN["match"],
            "primary_strong": OWN["strong"],
        }
        probe_primary = g.embed(probe)[0].embedding
        probe_sface = pipeline.process_image(decode_array(probe)).faces[0].embedding
        gallery_primary = dict(zip(ids, g.catalog.embeddings(ids), strict=True))
        assert result.candidates[0].face_id == astro and result.candidates[0].fused
        seen = set()
        for c in result.candidates:
            cos = float(gallery_primary[c.face_id] @ probe_primary)
            seen.add(c.face_id)
            if c.face_id == missing:
                assert not c.fused and c.score == pytest.approx(cos, abs=1e-4)
                assert c.band == Bands(**OWN).band(c.score)
                continue
            want = fusion.fuse(np.array([[cos, float(sface_of[c.face_id] @ probe_sface)]]))[0]
            assert c.fused and c.score == pytest.approx(want, abs=1e-3)
            assert c.band == Bands(**FUSED).band(c.score)
        assert missing in seen
        scores = [c.score for c in result.candidates]
        assert scores == sorted(scores, reverse=True)
        assert g.stats()["fusion_member_vectors"] == {sface_key: len(ids) - 1}
        # compare scores the pair the same way, from the two photos
        comparison = g.compare(probe, astronaut)
        assert comparison.fused and comparison.threshold == FUSED["match"]
        assert comparison.score == pytest.approx(result.candidates[0].score, abs=1e-3)
    finally:
        g.close()
