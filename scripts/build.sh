#!/usr/bin/env bash
# Configures and builds rlhf.cpp into build/ (Release, Ninja).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
# 2 cores, and libtorch translation units take ~1.5 GB each: one job per core.
# RLHF_TARGETS="rlhf" builds only those targets (the main job needs only the binary).
cmake --build "$BUILD_DIR" -j "$(nproc)" ${RLHF_TARGETS:+--target $RLHF_TARGETS}
