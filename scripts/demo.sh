#!/usr/bin/env bash
# Sets everything up, builds, and runs the main job, `crosstrace demo` (README command 1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
./build/crosstrace demo "$@"
