#!/usr/bin/env bash
# Fresh Debian 12 -> dependencies, build, and the whole test suite (what .ci/run calls).
# Pass a ctest label to run a subset: scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 "$@"
