#!/usr/bin/env bash
# Installs the product's npm packages when node_modules is missing or older than the lock file.
# Sourced by the quick-start scripts so that each works on a fresh clone.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# onnxruntime-node (a dependency of Transformers.js) would otherwise download CUDA libraries.
export ONNXRUNTIME_NODE_INSTALL_CUDA=skip
if [ ! -f "$root/node_modules/.package-lock.json" ] || [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
  echo "Installing npm packages (npm ci)…"
  (cd "$root" && npm ci --no-audit --no-fund)
fi
