#!/usr/bin/env bash
# Installs everything rlhf.cpp needs on Debian 12 (run as root, or with sudo available).
# libtorch (CPU) and the BLAS/oneDNN it runs on, SentencePiece, JSON, SQLite, GoogleTest, and
# for benchmarks the PyTorch-eager reference (python3-torch) and tcmalloc.
#   scripts/setup.sh          everything: build, tests (browser test: chromium, nodejs), benchmarks
#   scripts/setup.sh --main   what building and running `rlhf` needs (the main job)
set -euo pipefail
PKGS=(build-essential cmake ninja-build pkg-config git
      libtorch-dev libopenblas-dev libdnnl-dev libsentencepiece-dev nlohmann-json3-dev
      libsqlite3-dev libgtest-dev libtcmalloc-minimal4 libcpp-httplib-dev)
if [ "${1:-}" != "--main" ]; then
  PKGS+=(python3-torch chromium nodejs)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
