#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 60), two at a time, with the limits of
# -timeout=10 (a hang), -rss_limit_mb=2048 (a memory blow-up). The seed corpora under
# fuzz/corpus/<target>/ (committed, from fixtures/) are read only; what the fuzzer adds goes to
# fuzz/corpus-work/<target>/ (ignored). A crash leaves its input under fuzz/artifacts/<target>/ and fails the
# script. One line per target: executions, seconds, and the result, also in fuzz/target/fuzz-summary.txt.
#
#   scripts/fuzz.sh [SECONDS] [TARGET..]
#
# Needs the nightly toolchain and cargo-fuzz; installs the pinned cargo-fuzz when it is missing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_EACH=${1:-60}
shift || true
CARGO_FUZZ_VERSION=0.13.1
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(safetensors pt pickle npy quant_spec gemm_spec kernel_ref gate_rules capture_manifest)
fi
# The main crate's build script compiles kernels/*.cu when nvcc is there; the fuzz targets need none of it.
unset ISOLATE_REQUIRE_NVCC
export ISOLATE_NO_NVCC=1
# One build of every target (cargo fuzz build takes one target or all); the runs below start the binaries
# themselves (`cargo fuzz run` would build again, and two at once wait on cargo's lock).
cargo +nightly fuzz build --release
BIN=target/$(rustc -vV | sed -n 's/^host: //p')/release
mkdir -p target artifacts
summary=target/fuzz-summary.txt
: >"$summary"
run_one() {
    local t=$1
    mkdir -p "corpus-work/$t" "artifacts/$t"
    local log="target/fuzz-$t.log" rc=0
    "$BIN/$t" "corpus-work/$t" "corpus/$t" \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" >"$log" 2>&1 || rc=$?
    local execs secs
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    secs=$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    if [ "$rc" -eq 0 ]; then
        echo "$t: $execs executions in ${SECONDS_EACH} s ($secs/s), no finding" | tee -a "$summary"
    else
        echo "$t: FAILED (exit $rc) after $execs executions; see fuzz/$log and fuzz/artifacts/$t/" | tee -a "$summary"
        grep -E 'panicked|ERROR|SUMMARY' "$log" | head -n 5 >&2 || true
    fi
    return "$rc"
}
fail=0
i=0
pids=()
for t in "${TARGETS[@]}"; do
    run_one "$t" &
    pids+=($!)
    i=$((i + 1))
    if [ $((i % 2)) -eq 0 ]; then
        for p in "${pids[@]}"; do wait "$p" || fail=1; done
        pids=()
    fi
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
exit "$fail"
