#!/usr/bin/env bash
# The 5-minute soak at scale. Extra arguments go to `soak`, and override the defaults:
#   scripts/run_soak.sh                      # 5 minutes, profile 5min
#   scripts/run_soak.sh --duration 20s       # a short run of the same profile
#   scripts/run_soak.sh --profile chaos      # every fault injected
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bins
profile=(--profile 5min)
for arg in "$@"; do
  if [[ "$arg" == "--profile" || "$arg" == --profile=* ]]; then
    profile=()
  fi
done
exec cargo run --release --bin soak -- "${profile[@]}" "$@"
