#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 60), two at a time, with the limits of
# -timeout=10 (a hang), -rss_limit_mb=2048 (a memory blow-up). The seed corpora under
# fuzz/corpus/<target>/ (committed, from fixtures/) are read only; what the fuzzer adds goes to
# fuzz/corpus-work/<target>/ (ignored). A crash leaves its input under fuzz/artifacts/<target>/ and fails the
# script. One line per target: executions, seconds, and the result, also in fuzz/target/fuzz-summary.txt.
#
#   scripts/fuzz.sh [SECONDS] [TARGET..]
#   scripts/fuzz.sh --ci [TARGET..]
#
# --ci is the step of .ci/run: a fixed number of executions per target (CI_RUNS below, each well under a
# minute on one core) from a fixed seed (-seed=1) and an empty scratch corpus, so the run is the same on every
# machine — what passed here passes in CI, and a regression in a reader is still caught.
#
# Needs nightly rustc (the pinned one below is installed with rustup when `nightly` is another build) and
# cargo-fuzz (the pinned version is installed when missing).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
CI_MODE=0
if [ "${1:-}" = "--ci" ]; then
    CI_MODE=1
    SECONDS_EACH=0
else
    SECONDS_EACH=${1:-60}
fi
shift || true
# The pinned nightly: rustc 1.97.0-nightly (e50aa6fba 2026-05-19), published as the nightly of 2026-05-20.
NIGHTLY_COMMIT=e50aa6fba
TOOLCHAIN=nightly
have=$(rustc +nightly -vV 2>/dev/null || true)
if [[ "$have" != *"commit-hash: $NIGHTLY_COMMIT"* ]]; then
    TOOLCHAIN=nightly-2026-05-20
    rustup toolchain list | grep -q "^$TOOLCHAIN" || rustup toolchain install "$TOOLCHAIN" --profile minimal
fi
CARGO_FUZZ_VERSION=0.13.1
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi
# Executions per target in --ci mode (about 20-40 s each on one free core; rates in docs/measurements/fuzz.md).
ci_runs() {
    case "$1" in
        safetensors | pt | gate_rules) echo 60000 ;;
        pickle | npy | capture_manifest) echo 150000 ;;
        *) echo 500000 ;;
    esac
}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(safetensors pt pickle npy quant_spec gemm_spec kernel_ref gate_rules capture_manifest)
fi
# The main crate's build script compiles kernels/*.cu when nvcc is there; the fuzz targets need none of it.
unset ISOLATE_REQUIRE_NVCC
export ISOLATE_NO_NVCC=1
# One build of every target (cargo fuzz build takes one target or all); the runs below start the binaries
# themselves (`cargo fuzz run` would build again, and two at once wait on cargo's lock).
cargo "+$TOOLCHAIN" fuzz build --release
BIN=target/$(rustc -vV | sed -n 's/^host: //p')/release
mkdir -p target artifacts
summary=target/fuzz-summary.txt
: >"$summary"
run_one() {
    local t=$1
    mkdir -p "corpus-work/$t" "artifacts/$t"
    local log="target/fuzz-$t.log" rc=0 work="corpus-work/$t" budget
    if [ "$CI_MODE" -eq 1 ]; then
        work=$(mktemp -d)
        budget=(-runs="$(ci_runs "$t")" -seed=1)
    else
        budget=(-max_total_time="$SECONDS_EACH")
    fi
    "$BIN/$t" "$work" "corpus/$t" "${budget[@]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" >"$log" 2>&1 || rc=$?
    if [ "$CI_MODE" -eq 1 ]; then rm -rf "$work"; fi
    local execs secs
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    secs=$(grep -Eo 'stat::average_exec_per_sec: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    if [ "$rc" -eq 0 ]; then
        echo "$t: $execs executions ($secs/s), no finding" | tee -a "$summary"
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
