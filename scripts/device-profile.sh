#!/usr/bin/env bash
# Profiles on the GPU machine, over binaries staged by scripts/stage-gpu.sh (docs/kernels.md §3.9, §9.5):
#   bash scripts/device-profile.sh [.gpu/cuda] [quant|e2e|all]
# quant: `isolate bench quant` (the production kernel, its H200 experiments and the traffic ceilings, same run),
#        then Nsight Compute on the default 1×128 kernel, two experiments and the no-arithmetic ceiling
#        (throughput, occupancy, registers, warp stalls).
# e2e:   `isolate gemm` at the DeepSeek shape (scripts/make-gemm-e2e-input.py) five times with its phase times
#        and the process's peak host memory (with BASE=DIR, DIR/isolate too, alternating: a same-run baseline),
#        then once under Nsight Systems where it is installed (CUDA API, copies, kernels, OS calls).
# Text logs go to $OUT (or /tmp/isolate-profile).
set -uo pipefail
d="${1:-.gpu/cuda}"
mode="${2:-all}"
out="${OUT:-/tmp/isolate-profile}"
mkdir -p "$out"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export PATH=/usr/local/cuda/bin:$PATH
chmod +x "$d/isolate" 2>/dev/null
{
  nvidia-smi --query-gpu=name,driver_version,persistence_mode,clocks.sm,clocks.max.sm,clocks.mem,power.limit --format=csv
  command -v ncu nsys
  ncu --version 2>&1 | tail -1
  nsys --version 2>&1
} >"$out/card.txt" 2>&1

quant() {
  "$d/isolate" bench quant >"$out/bench-quant.txt" 2>&1
  for k in quant_act_w64_4 quant_act_w64_4_lb8 quant_act_w64_4_pf stream_r2w1; do
    echo "=== $k"
    timeout 240 ncu --kernel-name "regex:^${k}\$" --launch-skip 2 --launch-count 1 \
      --section SpeedOfLight --section MemoryWorkloadAnalysis --section Occupancy --section LaunchStats \
      --section WarpStateStats --section SchedulerStats "$d/isolate" bench quant --reps 5 2>&1 |
      grep -v '^==PROF==' | sed -n '/^  [a-z_0-9]*(/,$p'
  done >"$out/ncu-quant.txt" 2>&1
}

e2e() {
  local in="${TMPDIR:-/tmp}/isolate-e2e.safetensors"
  python3 scripts/make-gemm-e2e-input.py "$in" >"$out/e2e-input.txt" 2>&1 || return
  ls -l "$in" >>"$out/e2e-input.txt"
  local cmd=("$d/isolate" gemm --backend cuda --input "$in" --target-quant torch-e8m0 --ref-quant deepgemm-ue8m0
    --target-gemm blockwise --ref-gemm blockwise)
  local args=("${cmd[@]:1}")
  for run in 1 2 3 4 5; do
    for bin in ${BASE:+"$BASE/isolate"} "$d/isolate"; do
      echo "=== run $run: $bin"
      ISOLATE_TIMINGS=1 python3 - "$bin" "${args[@]}" <<'EOF'
import resource, subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
w = time.perf_counter() - t
print(f"e2e wall {w:.3f} s, exit {r.returncode}, peak RSS {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MiB")
EOF
    done
  done >"$out/e2e-timings.txt" 2>&1
  if command -v nsys >/dev/null; then
    timeout 240 nsys profile --trace=cuda,osrt --sample=none -o "${TMPDIR:-/tmp}/e2e" --force-overwrite true \
      "${cmd[@]}" >/dev/null 2>"$out/nsys-profile.txt"
    nsys stats -q --report cuda_api_sum --report cuda_gpu_kern_sum --report cuda_gpu_mem_time_sum \
      --report cuda_gpu_mem_size_sum --report osrt_sum "${TMPDIR:-/tmp}/e2e.nsys-rep" >"$out/nsys-e2e.txt" 2>&1
  fi
}

case "$mode" in
  quant) quant ;;
  e2e) e2e ;;
  *) quant; e2e ;;
esac
grep -E 'D2D|w64|r2w1|copy' "$out/bench-quant.txt" 2>/dev/null | head -30
grep -E 'e2e wall|timing: (backend|weight|activ|GEMM|compare|noise|wall)' "$out/e2e-timings.txt" 2>/dev/null | tail -24
