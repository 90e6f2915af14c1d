#!/usr/bin/env bash
# Runs on the GPU machine from the repository root, over binaries staged by scripts/stage-gpu.sh:
#   bash .gpu/cuda/gpu-check.sh .gpu/cuda [full|bench|gemm|quant|e2e|quick]   (full: exhaustive codec sweeps + every bench;
#   bench: every bench without the exhaustive sweeps; quick: no bench)
# selftest (every kernel vs its CPU twin, exhaustive codec sweeps), the GPU tests (ISOLATE_REQUIRE_GPU=1: a
# missing GPU fails), the user example kernel, and the benches. Logs go to $OUT (or /tmp/isolate-gpu); a short
# table comes last.
set -uo pipefail
d="${1:-.gpu/cuda}"
mode="${2:-full}"
out="${OUT:-/tmp/isolate-gpu}"
mkdir -p "$out"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export ISOLATE_REQUIRE_GPU=1 ISOLATE_EXAMPLES="$d/examples"
chmod +x "$d/isolate" "$d/test-gpu" 2>/dev/null
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv >"$out/nvidia-smi.txt" 2>&1
declare -A rc
step() { # name, log, command...
  local name=$1 log=$2; shift 2
  local t0 t1
  t0=$(date +%s.%N)
  timeout 300 "$@" >"$out/$log" 2>&1; rc[$name]=$?
  t1=$(date +%s.%N)
  printf '%-16s rc=%-3s %8.2fs  %s\n' "$name" "${rc[$name]}" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$log" >>"$out/summary.txt"
}
: >"$out/summary.txt"
ex=""; [ "$mode" = full ] && ex="--exhaustive"
step selftest selftest.txt "$d/isolate" selftest --backend cuda $ex
step tests tests.txt "$d/test-gpu" --test-threads=1 --nocapture
x=fixtures/minilm/ffn_act.safetensors
if [ -f "$x" ]; then
  step quant-kernel quant-kernel.txt "$d/isolate" quant --input "$x" --reference deepgemm-ue8m0 \
    --candidate "kernel:$d/examples/quant_ue8m0.cu"
  step quant-cuda quant-cuda.txt "$d/isolate" quant --backend cuda --input "$x" --reference vllm-ue8m0 \
    --candidate deepseek-v32-ue8m0
fi
g=fixtures/demo/gemm_drift.safetensors
if [ -f "$g" ]; then
  demo=("$d/isolate" gemm --backend cuda --input "$g" --target-quant deepgemm-ue8m0 --ref-quant deepgemm-ue8m0)
  step gemm-cublaslt gemm-cublaslt.txt "${demo[@]}" --target-gemm cublaslt --ref-gemm blockwise
  step gemm-kernel gemm-kernel.txt "${demo[@]}" --target-gemm "kernel:$d/examples/gemm_blockwise.cu" --ref-gemm blockwise
  step gemm-fingerprint gemm-fingerprint.txt "$d/isolate" gemm fingerprint --backend cuda --input "$g" \
    --target-quant deepgemm-ue8m0 --top 8
fi
# isolate gemm end to end at M=4096, N=K=7168 (load, quantize both, 4 paths, report), when torch is there to make
# the input: the wall time of the command, as a user sees it.
e2e() {
  local in="${TMPDIR:-/tmp}/isolate-e2e.safetensors"
  python3 scripts/make-gemm-e2e-input.py "$in" >"$out/e2e-input.txt" 2>&1 || { echo "no input (torch?)" >>"$out/e2e-input.txt"; return; }
  for run in 1 2; do # the second run sees warm file and driver caches
    step gemm-e2e-run$run gemm-e2e-run$run.txt "$d/isolate" gemm --backend cuda --input "$in" \
      --target-quant torch-e8m0 --ref-quant deepgemm-ue8m0 --target-gemm blockwise --ref-gemm blockwise
  done
}
bq() { step bench-quant bench-quant.txt "$d/isolate" bench quant --kernel "$d/examples/quant_ue8m0.cu"; }
bg() { step bench-gemm bench-gemm.txt "$d/isolate" bench gemm --kernel "$d/examples/gemm_blockwise.cu"; }
case "$mode" in
  full|bench) e2e; bq; bg ;;
  e2e) e2e ;;
  gemm) bg ;;
  quant) bq ;;
esac
for f in selftest quant-kernel quant-cuda gemm-cublaslt gemm-kernel gemm-fingerprint e2e-input gemm-e2e-run1 gemm-e2e-run2 bench-quant bench-gemm; do
  [ -f "$out/$f.txt" ] && { echo "== $f"; cat "$out/$f.txt"; }
done
echo "== tests"; awk '/panicked/{n=4} n&&n--{print;next} /^test |test result|skipping|^note:/' "$out/tests.txt"
echo "== $(head -2 "$out/nvidia-smi.txt" | tail -1)"
cat "$out/summary.txt"
