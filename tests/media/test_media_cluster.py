"""Face clustering of a media set: CFP photos imported as an unlabelled set, scored by BCubed
against the true identities; one photo's faces never share a cluster; decisions survive."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from tests.conftest import write_image
from tests.support.cli import CliUsers
from tests.support.media import audit_actions, cfp_frontal, make_app
from typer.testing import CliRunner

from facesearch.govern.errors import RefusedError
from facesearch.media.cluster import bcubed, cluster_vectors


def _copy(shared, folder, people, photos):
    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for p in people:
        for k in photos:
            name = f"p{p:03d}_{k:02d}.jpg"
            shutil.copy(cfp_frontal(shared, p, k), folder / name)
            truth[f"{folder.name}/{name}"] = p
    return truth


def _score(views, truth):
    labels, ids = [], []
    for v in views:
        for f in v.faces:
            if f.file in truth:
                labels.append(v.cluster)
                ids.append(truth[f.file])
    return bcubed(np.array(labels), np.array(ids))


def test_clusters_persons_keeps_photos_apart_and_keeps_decisions(tmp_path, pipeline, shared_faces):
    import cv2

    setup = make_app(tmp_path / "data", pipeline)
    media = setup.media
    first = tmp_path / "first"
    truth = _copy(shared_faces, first, range(20, 32), range(1, 8))
    # one photo holding two faces of person 20: they must end in two clusters
    a = cv2.imread(str(cfp_frontal(shared_faces, 20, 9)))
    b = cv2.resize(cv2.imread(str(cfp_frontal(shared_faces, 20, 10))), (a.shape[1], a.shape[0]))
    write_image(first / "pair.png", np.concatenate([a, b], axis=1)[:, :, ::-1])
    media.import_media("ivy", "A", [first], workers=0)
    run = media.cluster("ivy", "A")
    assert run.faces >= 12 * 7
    views = media.clusters("ivy", "A")
    p, r, f = _score(views, truth)
    assert f >= 0.90, (p, r, f)
    for v in views:
        files = [x.file for x in v.faces]
        assert len(files) == len(set(files)), f"cluster {v.cluster} holds two faces of one photo"
    assert sum(1 for v in views for x in v.faces if x.file == "first/pair.png") == 2
    sizes = [len(v.faces) for v in views]
    assert sizes == sorted(sizes, reverse=True)
    # the same input gives the same result
    media.cluster("ivy", "A")
    assert [(v.cluster, v.faces) for v in media.clusters("ivy", "A")] == [
        (v.cluster, v.faces) for v in views
    ]
    # name the cluster of person 21; more material arrives; the person keeps name and faces
    target = next(v for v in views if truth.get(v.faces[0].file) == 21)
    media.decide("ivy", "A", "name", cluster=target.cluster, name="Child 1")
    before = {x.face_id for x in target.faces}
    more = tmp_path / "more"
    _copy(shared_faces, more, [21], range(8, 11))
    _copy(shared_faces, more, range(40, 43), range(1, 5))
    media.import_media("ivy", "A", [more], workers=0)
    media.cluster("ivy", "A")
    after = {v.cluster: v for v in media.clusters("ivy", "A")}
    named = after[target.cluster]
    assert named.name == "Child 1" and before <= {x.face_id for x in named.faces}
    assert sum(x.file.startswith("more/p021") for x in named.faces) >= 2
    # split, move, merge, hide: kept across re-clustering, audited
    face = sorted(before)[-1]
    split = media.decide("ivy", "A", "split", cluster=target.cluster, faces=[face])
    media.cluster("ivy", "A")
    now = {v.cluster: v for v in media.clusters("ivy", "A")}
    assert [x.face_id for x in now[split["new_cluster"]].faces] == [face]
    media.decide("ivy", "A", "merge", cluster=target.cluster, other=split["new_cluster"])
    media.decide("ivy", "A", "hide", cluster=target.cluster)
    media.cluster("ivy", "A")
    assert target.cluster not in {v.cluster for v in media.clusters("ivy", "A")}
    hidden = {v.cluster: v for v in media.clusters("ivy", "A", include_hidden=True)}
    assert face in {x.face_id for x in hidden[target.cluster].faces}
    with pytest.raises(RefusedError, match="no cluster"):
        media.decide("ivy", "A", "name", cluster=99999, name="x")
    actions = {a for _, a in audit_actions(setup.service)}
    for act in ("media.cluster", "media.clusters", "media.person.name", "media.person.split"):
        assert act in actions
    assert {"media.person.merge", "media.person.hide", "media.person.name.refused"} <= actions
    assert media.summary("ivy", "A")["decisions"] == {"hide": 1, "merge": 1, "name": 1, "split": 1}
    setup.service.close()


def test_cli_clusters_json_shape(tmp_path, shared_faces):
    from facesearch.cli import app

    runner = CliRunner()
    data = str(tmp_path / "data")
    setup = make_app(tmp_path / "data")
    setup.service.close()
    folder = tmp_path / "set"
    _copy(shared_faces, folder, [50, 51], [1, 2])

    users = CliUsers(data)  # each user's token

    def run(*args):
        res = runner.invoke(app, ["-d", data, *args], env=users.env("ivy"))
        assert res.exit_code == 0, res.output
        return res.output

    run("media", "import", str(folder), "--case", "A", "--workers", "0", "--json")
    run("media", "cluster", "A")
    out = json.loads(run("media", "clusters", "A", "--json"))
    assert [len(c["faces"]) for c in out["clusters"]] == [2, 2]
    for c in out["clusters"]:
        assert isinstance(c["cluster"], int)
        for f in c["faces"]:
            assert set(f) == {"face_id", "file", "frame_ms"} and f["frame_ms"] is None
    res = runner.invoke(app, ["-d", data, "media", "clusters", "A"], env=users.env("ian"))
    assert res.exit_code == 2 and "not assigned" in res.output


def test_cluster_vectors_is_deterministic_and_separates_same_photo_faces():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(5, 64))
    x = np.repeat(centres, 6, axis=0) + rng.normal(0, 0.15, (30, 64))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    truth = np.repeat(np.arange(5), 6)
    photos = np.arange(30)
    photos[1] = photos[0]  # two faces of person 0 in one photo
    a = cluster_vectors(x, photos)
    assert (a == cluster_vectors(x, photos)).all()
    assert a[0] != a[1]
    assert bcubed(a, truth)[2] >= 0.9
