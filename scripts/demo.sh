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
# Every step runs with a credential: the users' passwords are made up on first use, each user
# makes an API token with theirs, and the tokens are kept in FACESEARCH_DATA/demo-tokens.
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

# Every act needs a credential: init makes two administrators with passwords made up here;
# each user makes a token once with their password, kept (mode 0600) in $CREDS, and every later
# command passes it as FACESEARCH_TOKEN. The passwords are not kept anywhere.
umask 077
unset FACESEARCH_USER FACESEARCH_TOKEN FACESEARCH_TOKEN_FILE  # only the credentials below
CREDS=$FACESEARCH_DATA/demo-tokens
new_password() { "$PY" -c 'import secrets; print(secrets.token_urlsafe(18))'; }
new_token() {  # USER PASSWORD: USER signs in with the password, makes a token and keeps it
  printf '%s\n' "$2" | fs token create --as "$1" --password-stdin --name demo | tail -n 1 \
    > "$CREDS/$1.token"
}
run_as() { local who=$1; shift; FACESEARCH_TOKEN=$(cat "$CREDS/$who.token") fs "$@"; }

if [ ! -f "$FACESEARCH_DATA/policy.toml" ]; then
  ADMIN_PW=$(new_password) ADMIN2_PW=$(new_password)
  printf '%s\n%s\n' "$ADMIN_PW" "$ADMIN2_PW" |
    fs init --admin admin --admin admin2 --password-stdin
  mkdir -p "$CREDS"
  new_token admin "$ADMIN_PW"
  new_token admin2 "$ADMIN2_PW"
  SAM_PW=$(new_password) IVY_PW=$(new_password)
  # two-person rule: granting the supervisor role waits for the second administrator
  PENDING=$(printf '%s\n' "$SAM_PW" | run_as admin user add sam --role supervisor --password-stdin)
  echo "$PENDING"
  CHANGE=$(printf '%s\n' "$PENDING" | sed -n 's/^pending: change \([0-9]*\) .*/\1/p')
  [ -n "$CHANGE" ] || fail "adding the supervisor did not make a pending change: $PENDING"
  run_as admin2 change approve "$CHANGE"
  printf '%s\n' "$IVY_PW" | run_as admin user add ivy --role investigator --password-stdin
  new_token sam "$SAM_PW"
  new_token ivy "$IVY_PW"
  unset ADMIN_PW ADMIN2_PW SAM_PW IVY_PW
fi
for who in admin sam ivy; do
  [ -s "$CREDS/$who.token" ] || fail "$FACESEARCH_DATA has no demo token of $who ($CREDS): \
it was set up otherwise; remove it or set FACESEARCH_DATA to a new folder"
done
run_as admin ingest "$PHOTOS" --collection demo
CASE=DEMO-$(date +%Y%m%d-%H%M%S)-$$
run_as ivy case open "$CASE" --purpose threat-to-life --authority "Demo authority 1" \
   --justification "demonstration of the search flow"
run_as sam case approve "$CASE"
[ -z "$DEMO_NOTE" ] || echo "$DEMO_NOTE"
run_as ivy search "$PROBE" --case "$CASE" -k 5 --grid "$FACESEARCH_DATA/last-search.png"
TOP=$(run_as ivy search "$PROBE" --case "$CASE" -k 1 --json | "$PY" -c '
import json, sys
r = json.load(sys.stdin)
c = r["candidates"][0] if r["candidates"] else None
print(r["search_id"], *((c["face_id"], c["band"], c["score"], c["image_path"]) if c else ()))
')
read -r SEARCH FACE BAND SCORE IMAGE <<< "$TOP"
if [ -n "${FACE:-}" ]; then
  echo "Top candidate: $IMAGE (score $(printf '%.3f' "$SCORE"), band $BAND)"
  run_as ivy review mark "$SEARCH" "$FACE" possible_match --note "same person on visual comparison"
  # two-person rule: a second examiner, who neither searched nor reviewed, confirms it
  run_as sam verify "$SEARCH" "$FACE" --verdict confirm --basis "FISWG morphological comparison"
else
  echo "No candidate reached the policy's band: nothing to review."
fi
run_as sam case report "$CASE" --html "$FACESEARCH_DATA/$CASE.html" --pdf "$FACESEARCH_DATA/$CASE.pdf"
run_as admin audit verify
