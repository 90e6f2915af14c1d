#!/usr/bin/env bash
# Builds the wheels a user installs with pip:
#   .whl/isolate-<ver>-py3-none-<platform>.whl       the `isolate` binary (maturin `-b bin`: the executable goes
#                                                    into the wheel's scripts, so `pip install` puts it on PATH)
#   .whl/isolate_capture-<ver>-py3-none-any.whl      the pure-Python capture package (python/)
# With --test, installs both into a fresh venv (.cache/wheel-test) and runs `isolate` from PATH there.
#
#   bash scripts/build-wheel.sh [--test]
#
# maturin is pinned and comes from PyPI into .cache/maturin-venv. The binary is a full release build (5-10 min on
# 2 cores; reuses CARGO_TARGET_DIR when set). The platform tag is plain `linux` unless --compatibility is given
# through MATURIN_COMPAT (e.g. manylinux_2_28): the binary loads the CUDA driver with dlopen at run time only.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
MATURIN_VERSION=1.16.0
MVENV=.cache/maturin-venv
if ! [ -x "$MVENV/bin/maturin" ] || ! "$MVENV/bin/maturin" --version | grep -q " $MATURIN_VERSION"; then
  rm -rf "$MVENV"
  "$PY" -m venv "$MVENV"
  "$MVENV/bin/pip" install --disable-pip-version-check -q "maturin==$MATURIN_VERSION"
fi
mkdir -p .whl
rm -f .whl/isolate-*.whl .whl/isolate_capture-*.whl
"$MVENV/bin/maturin" build --release --locked -b bin --manifest-path Cargo.toml -o .whl \
  --compatibility "${MATURIN_COMPAT:-linux}" --auditwheel skip
"$MVENV/bin/pip" wheel --disable-pip-version-check -q --no-deps ./python -w .whl
ls -l .whl
if [ "${1:-}" = "--test" ]; then
  TV=.cache/wheel-test
  rm -rf "$TV"
  "$PY" -m venv "$TV"
  "$TV/bin/pip" install --disable-pip-version-check -q --no-deps .whl/isolate-*.whl .whl/isolate_capture-*.whl
  PATH="$TV/bin:$PATH"
  command -v isolate
  isolate --version
  isolate gemm --input fixtures/demo/quant_drift.safetensors --target-quant torch-e8m0 --ref-quant deepgemm-ue8m0 \
    --target-gemm blockwise --ref-gemm blockwise --backend cpu --json - > /tmp/wheel-test.json || test $? -eq 1
  grep -q '"verdict": *"quant"' /tmp/wheel-test.json && echo "build-wheel: isolate from the wheel on PATH gives verdict quant on the demo"
fi
