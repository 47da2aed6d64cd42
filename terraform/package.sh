#!/usr/bin/env bash
# Build one deployable zip per folder of functions/: usage  terraform/package.sh [OUT_DIR]  (default dist/).
#
# Each zip holds, at its root:
#   main.py           functions/<name>/main.py
#   convoinsight/     the shared package (shared/convoinsight), importable beside main.py
#   prompts/          the agents' prompt YAML files (PROMPTS_DIR=/workspace/prompts in the cloud)
#   requirements.txt  the pinned runtime dependencies, installed by Cloud Functions' build
#   convoinsight/**/__pycache__/*.pyc  its bytecode (checked-hash), compiled by the Python that runs this script
# Zipped with Python's zipfile (no zip binary needed), with fixed timestamps so that an unchanged function gives an
# identical zip.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)"
python="${PYTHON:-python3}"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

count=0
for dir in "$root"/functions/*/; do
  name="$(basename "$dir")"
  [[ -f "$dir/main.py" ]] || continue
  work="$stage/$name"
  mkdir -p "$work"
  cp "$dir/main.py" "$work/main.py"
  cp -R "$root/shared/convoinsight" "$work/convoinsight"
  cp -R "$root/prompts" "$work/prompts"
  cp "$root/requirements.txt" "$work/requirements.txt"
  find "$work" -name __pycache__ -type d -prune -exec rm -rf {} +
  find "$work" -name '*.pyc' -delete
  # Bytecode shipped with the source, so that a cold instance does not compile the package (PYTHONDONTWRITEBYTECODE
  # or a read-only /workspace would make it compile on every start). checked-hash: valid whatever the files'
  # times after unzipping, checked against the source at import (a changed file is compiled again), and the
  # same bytes for the same source, so the zip stays reproducible.
  # Paths in the bytecode are where Cloud Functions unpacks the source (/workspace), not this temp folder.
  "$python" -m compileall -q -j 0 -s "$work" -p /workspace --invalidation-mode checked-hash "$work/convoinsight" \
    >/dev/null
  "$python" - "$work" "$out/$name.zip" <<'PY'
import os
import sys
import zipfile

src, dest = sys.argv[1], sys.argv[2]
paths = []
for base, dirs, files in os.walk(src):
    dirs.sort()
    paths += [os.path.join(base, f) for f in sorted(files)]
with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
    for path in paths:
        info = zipfile.ZipInfo(os.path.relpath(path, src), date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        with open(path, "rb") as fh:
            zf.writestr(info, fh.read())
PY
  echo "packaged $name -> $out/$name.zip"
  count=$((count + 1))
done
[[ $count -gt 0 ]] || { echo "no functions/*/main.py found" >&2; exit 1; }
