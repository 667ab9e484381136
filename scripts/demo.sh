#!/usr/bin/env bash
# The main job on the embedded default (SQLite + FAISS in one data directory), the whole
# accountable flow: set up, ingest a folder of photos, open and approve a case, search a
# probe inside it, record a review, write the case report, verify the audit log.
#
#   scripts/demo.sh [PHOTOS] [PROBE]      (default: ../shared/faces/deepface_tests, its img1.jpg)
set -euo pipefail
cd "$(dirname "$0")/.."

PHOTOS=${1:-../shared/faces/deepface_tests}
PROBE=${2:-$PHOTOS/img1.jpg}
export FACESEARCH_DATA=${FACESEARCH_DATA:-facesearch-data}

if [ ! -x .venv/bin/facesearch ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet -e .
fi
fs() { .venv/bin/facesearch "$@"; }

if [ ! -f "$FACESEARCH_DATA/policy.toml" ]; then
  fs init --admin admin
  fs user add sam --role supervisor --no-password --as admin
  fs user add ivy --role investigator --no-password --as admin
fi
fs ingest "$PHOTOS" --collection demo --as admin
CASE=DEMO-$(date +%Y%m%d-%H%M%S)
fs case open "$CASE" --purpose threat-to-life --authority "Demo authority 1" \
   --justification "demonstration of the search flow" --as ivy
fs case approve "$CASE" --as sam
fs search "$PROBE" --case "$CASE" -k 5 --grid "$FACESEARCH_DATA/last-search.png" --as ivy
SEARCH=$(fs search "$PROBE" --case "$CASE" -k 1 --json --as ivy | .venv/bin/python -c \
  'import json,sys; r=json.load(sys.stdin); print(r["search_id"], r["candidates"][0]["face_id"])')
fs review mark $SEARCH possible_match --note "same person on visual comparison" --as ivy
fs case report "$CASE" --html "$FACESEARCH_DATA/$CASE.html" --pdf "$FACESEARCH_DATA/$CASE.pdf" --as sam
fs audit verify --as admin
