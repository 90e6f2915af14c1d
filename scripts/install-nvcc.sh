#!/usr/bin/env bash
# Installs the pinned CUDA 13.0 nvcc (pip wheels, no root, ~270 MB) under .cache/cuda of the repository,
# exactly as shared/toolchain.md says: ONE pip command with every package pinned (a later `--target --upgrade`
# would wipe the shared nvidia/ folder, and nvcc's own dependencies are unpinned and would pull 13.5, whose PTX
# the 580 driver rejects). build.rs finds it there. Idempotent: does nothing when the pinned nvcc is present.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.cache/cuda"
nvcc="$dest/nvidia/cu13/bin/nvcc"
if [ -x "$nvcc" ] && "$nvcc" --version | grep -q 'release 13\.0'; then
  echo "install-nvcc: $("$nvcc" --version | tail -1) already at $nvcc"
  exit 0
fi
rm -rf "$dest"
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-warn-script-location --target "$dest" \
  nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88 \
  nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85
"$nvcc" --version | tail -1
echo "install-nvcc: installed $nvcc"
