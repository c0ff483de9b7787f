#!/usr/bin/env bash
# Installs every Debian package crosstrace needs to build, test and benchmark.
# Idempotent: when everything is present it prints nothing and exits 0.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  clang libclang-rt-14-dev            # libFuzzer and sanitizers
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev zlib1g-dev libyaml-dev
  libsentencepiece-dev libpng-dev libjpeg62-turbo-dev libopenblas-dev
  python3 python3-numpy python3-scipy python3-torch sentencepiece
  python3-pil python3-sentencepiece   # test references: PIL image ops, SentencePiece ids
  python3-jsonschema chromium         # report tests: report.json schema, report.html in a headless browser
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
