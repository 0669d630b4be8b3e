#!/usr/bin/env bash
# The main job: on a fresh Debian 12 machine, install the dependencies, build, and run the whole
# pipeline on the embedded world with the default preset (results in runs/default/summary.json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --main && RLHF_TARGETS=rlhf bash scripts/build.sh && build/rlhf pipeline --out runs/default "$@"
