#!/usr/bin/env bash
# The main job on the embedded default (SQLite + FAISS in one data directory), the whole
# accountable flow: set up, ingest a folder of photos, open and approve a case, search a
# probe, record a review, write the case report, verify the audit log.
#
#   scripts/demo.sh [PHOTOS] [PROBE]
#
# Without PHOTOS, the gallery is the demo photos (Barack Obama and Joe Biden, from the MIT
# sdist of face_recognition 1.3.0 on PyPI, fetched once and cached by facesearch.cli.demo) and
# the probe is another photo of Obama that is not in the gallery. PROBE defaults to
# PHOTOS/img1.jpg when PHOTOS is given.
# Environment: FACESEARCH_DATA (data directory, default ./facesearch-data);
# FACESEARCH_PYTHON (an interpreter that already has facesearch; default: ./.venv, made and
# installed here on first use); FACESEARCH_DEMO_PHOTOS (the demo photos' cache folder).
set -euo pipefail
cd "$(dirname "$0")/.."

PHOTOS=${1:-}
PROBE=${2:-}
export FACESEARCH_DATA=${FACESEARCH_DATA:-facesearch-data}

fail() { echo "demo: $*" >&2; exit 1; }
if [ -n "$PHOTOS" ]; then
  [ -e "$PHOTOS" ] || fail "PHOTOS=$PHOTOS: no such file or folder"
  PROBE=${PROBE:-$PHOTOS/img1.jpg}
fi
if [ -n "$PROBE" ] && [ ! -f "$PROBE" ]; then
  fail "PROBE=$PROBE: no such file (give a probe photo: make demo PHOTOS=... PROBE=...)"
fi

PY=${FACESEARCH_PYTHON:-}
if [ -z "$PY" ]; then
  if [ ! -x .venv/bin/facesearch ]; then
    python3 -m venv .venv
    .venv/bin/python -m pip install --quiet -e .
  fi
  PY=.venv/bin/python
fi
fs() { "$PY" -m facesearch "$@"; }

DEMO_NOTE=""
if [ -z "$PHOTOS" ]; then
  DEMO_VARS=$("$PY" -m facesearch.cli.demo --shell)  # fetched once, then cached; exits on error
  eval "$DEMO_VARS"
  PHOTOS=$DEMO_GALLERY
  if [ -z "$PROBE" ]; then
    PROBE=$DEMO_PROBE
    DEMO_NOTE="Probe: $PROBE ($DEMO_PERSON). It is not in the gallery: the gallery holds
other photos of him and one of Joe Biden, so a match is a different photo of the same person.
Demo photos: face_recognition 1.3.0 on PyPI, MIT licence ($DEMO_LICENCE)."
  fi
fi

if [ ! -f "$FACESEARCH_DATA/policy.toml" ]; then
  fs init --admin admin --admin ada   # two: a supervisor needs a second administrator
  fs user add sam --role supervisor --no-password --as admin
  fs change approve 1 --as ada
  fs user add ivy --role investigator --no-password --as admin
fi
fs ingest "$PHOTOS" --collection demo --as admin
CASE=DEMO-$(date +%Y%m%d-%H%M%S)-$$
fs case open "$CASE" --purpose threat-to-life --authority "Demo authority 1" \
   --justification "demonstration of the search flow" --as ivy
fs case approve "$CASE" --as sam
[ -z "$DEMO_NOTE" ] || echo "$DEMO_NOTE"
fs search "$PROBE" --case "$CASE" -k 5 --grid "$FACESEARCH_DATA/last-search.png" --as ivy
TOP=$(fs search "$PROBE" --case "$CASE" -k 1 --json --as ivy | "$PY" -c '
import json, sys
r = json.load(sys.stdin)
c = r["candidates"][0] if r["candidates"] else None
print(r["search_id"], *((c["face_id"], c["band"], c["score"], c["image_path"]) if c else ()))
')
read -r SEARCH FACE BAND SCORE IMAGE <<< "$TOP"
if [ -n "${FACE:-}" ]; then
  echo "Top candidate: $IMAGE (score $(printf '%.3f' "$SCORE"), band $BAND)"
  fs review mark "$SEARCH" "$FACE" possible_match --note "same person on visual comparison" --as ivy
else
  echo "No candidate reached the policy's band: nothing to review."
fi
fs case report "$CASE" --html "$FACESEARCH_DATA/$CASE.html" --pdf "$FACESEARCH_DATA/$CASE.pdf" --as sam
fs audit verify --as admin
