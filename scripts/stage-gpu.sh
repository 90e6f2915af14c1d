#!/usr/bin/env bash
# Builds the release binary and the GPU test binary and stages them, with the example kernels and
# scripts/gpu-check.sh, in an ignored folder ready to be carried to the GPU machine (no cargo there).
#   scripts/stage-gpu.sh [DEST]        DEST defaults to .gpu/cuda (ignored by .gitignore)
# On the GPU machine, from the repository root:  bash DEST/gpu-check.sh DEST
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
dest="${1:-.gpu/cuda}"
mkdir -p "$dest/examples"
cargo build --release --locked
tests=$(cargo test --release --locked --test gpu --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    try: m = json.loads(l)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "gpu":
        print(m["executable"])')
cp target/release/isolate "$dest/isolate"
cp "$tests" "$dest/test-gpu"
cp examples/*.cu "$dest/examples/"
cp scripts/gpu-check.sh "$dest/gpu-check.sh"
strip "$dest/isolate" "$dest/test-gpu" 2>/dev/null || true
du -sh "$dest"
echo "staged in $dest; on the GPU machine: bash $dest/gpu-check.sh $dest"
