#!/usr/bin/env bash
# The quick-start demo: installs what is missing, builds, and runs the engine on the bundled
# samples/ workspace with the built-in tiny model (no download, works offline).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/ensure-deps.sh
node esbuild.mjs
echo
echo "== Predictions for samples/notes.txt (builtin:tiny-bert: random weights until fine-tuned) =="
node dist/cli.js predict --model builtin:tiny-bert --file samples/notes.txt
if node dist/cli.js inspect --help >/dev/null 2>&1; then
  echo
  echo "== The dataset samples/reviews.csv, as the extension sees it =="
  node dist/cli.js inspect --data samples/reviews.csv --model builtin:tiny-bert
fi
