#!/usr/bin/env bash
# The README's test command: the Rust tests, then the capture package's tests (python/tests) in the pinned venv
# against the isolate binary those tests just built — the end-to-end ones run the real MiniLM-L6, capture through
# the env-var path and judge with `isolate` (ISOLATE_REQUIRE_BIN=1 ISOLATE_REQUIRE_MINILM=1: missing means fail,
# not skip). The venv comes from scripts/install-python-deps.sh (pinned, idempotent; ~5 min and 4.7 GB cold).
#   scripts/test.sh [PYTEST ARGS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked
bash scripts/install-python-deps.sh
BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/isolate"
test -x "$BIN" || cargo build --locked
start=$(date +%s)
# PYTHONPATH: the checkout's python/ wins over the copy pip installed into the venv (its stamp follows pyproject.toml only).
PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}" ISOLATE_BIN="$BIN" ISOLATE_REQUIRE_BIN=1 ISOLATE_REQUIRE_MINILM=1 .cache/pyenv/bin/python -m pytest -q python/tests "$@"
echo "test.sh: pytest in $(( $(date +%s) - start )) s"
