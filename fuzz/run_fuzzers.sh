#!/usr/bin/env bash
# Builds every fuzz/*_fuzz.cpp with clang + libFuzzer + ASan/UBSan and runs each for SECONDS
# (default 60) over a working corpus seeded from fuzz/seeds/<name without _fuzz>/ (and
# fuzz/<name without _fuzz>.dict when present). Prints each target's final figures (execs, cov,
# ft, corpus) and exits non-zero when any target crashes, leaks or times out.
# Usage: fuzz/run_fuzzers.sh [SECONDS]    env: BUILD_DIR (default build-fuzz), JOBS (default 2)
set -euo pipefail
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-fuzz}
jobs=${JOBS:-2}

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCROSSTRACE_FUZZ=ON -DCROSSTRACE_SANITIZE=ON -DCROSSTRACE_TESTS=OFF -DCROSSTRACE_BENCH=OFF >/dev/null
targets=()
for src in "$root"/fuzz/*_fuzz.cpp; do targets+=("$(basename "$src" .cpp)"); done
ninja -C "$build" -j"$jobs" "${targets[@]}"

status=0
for t in "${targets[@]}"; do
  short=${t%_fuzz}
  seeds="$root/fuzz/seeds/$short"
  work="$root/fuzz/corpus-run/$short"      # grows across runs; ignored by git
  artifacts="$build/artifacts/$t"
  mkdir -p "$work" "$artifacts"
  args=(-max_total_time="$seconds" -print_final_stats=1 -max_len=16384 -timeout=10 -rss_limit_mb=2048
        -artifact_prefix="$artifacts/")
  [[ -f "$root/fuzz/$short.dict" ]] && args+=(-dict="$root/fuzz/$short.dict")
  dirs=("$work")
  [[ -d "$seeds" ]] && dirs+=("$seeds")
  log="$build/$t.log"
  echo "== $t: ${seconds}s, seeds ${seeds#$root/}"
  if "$build/fuzz/$t" "${args[@]}" "${dirs[@]}" >"$log" 2>&1; then
    grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
  else
    status=1
    echo "!! $t FAILED; log: $log; artifacts: $artifacts"
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 || true
  fi
done
exit $status
