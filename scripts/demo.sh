#!/usr/bin/env bash
# The quick-start demo, offline, on the bundled samples/ workspace with the built-in pre-trained model:
#   1. the engine from the command line: the dataset as the extension sees it, a default fine-tuning
#      run of builtin:review-bert on samples/reviews.csv (~15 s), its predictions for samples/notes.txt;
#   2. the extension itself: built and packaged, then installed into the local VS Code when a `code`
#      command exists, else served by code-server on 127.0.0.1 (installed for the tests if missing)
#      with the extension installed; the address to open is printed. Ctrl-C stops what it started.
#
#   npm run demo                   the whole demo (keeps code-server running until Ctrl-C)
#   npm run demo -- --check        starts everything, checks that the workbench answers, exits
#   BERT_DEMO_CHECK=1 npm run demo the same
#   BERT_DEMO_PORT=8080            the port for code-server (default: a free one)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
check="${BERT_DEMO_CHECK:-0}"
[ "${1:-}" = "--check" ] && check=1

bash scripts/ensure-deps.sh
node esbuild.mjs
echo
echo "== The dataset samples/reviews.csv, as the extension sees it =="
node dist/cli.js inspect --data samples/reviews.csv --model builtin:review-bert
echo
model_dir="$(mktemp -d "${TMPDIR:-/tmp}/bert-workbench-demo-model-XXXXXX")"
echo "== Fine-tuning builtin:review-bert on samples/reviews.csv with the defaults (expect ~77% validation, ~76% test accuracy) =="
node dist/cli.js train --data samples/reviews.csv --model builtin:review-bert --out "$model_dir/model" 2>&1 | grep -v '^step '
echo
echo "== Its predictions for samples/notes.txt =="
node dist/cli.js predict --model "$model_dir/model" --file samples/notes.txt
rm -rf "$model_dir"
echo
echo "== The VS Code extension =="
npm run --silent package >/dev/null
vsix="$root/dist/bert-workbench.vsix"
echo "Packaged $vsix ($(du -h "$vsix" | cut -f1))."
extension_id="$(node -p "const p = require('./package.json'); p.publisher + '.' + p.name")"

# --- the local VS Code ---------------------------------------------------------------------------
if command -v code >/dev/null 2>&1 && [ -z "${BERT_DEMO_CODE_SERVER:-}" ]; then
  code --install-extension "$vsix" --force
  code --list-extensions | grep -qx "$extension_id" || { echo "demo: the extension did not install" >&2; exit 1; }
  if [ "$check" = 1 ]; then
    echo "demo check: installed into VS Code ($(code --version | head -1))."
    exit 0
  fi
  code "$root/samples"
  echo "Opened samples/ in VS Code: run \"BERT: Fine-tune on Workspace Data\" from the Command Palette,"
  echo "or Help > Welcome > Walkthroughs > \"Fine-tune BERT on your data\"."
  exit 0
fi

# --- else code-server ----------------------------------------------------------------------------
bash scripts/install-e2e.sh
code_server="$root/test/e2e/node_modules/.bin/code-server"
run="$(mktemp -d "${TMPDIR:-/tmp}/bert-workbench-demo-XXXXXX")"
server_pid=""
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$server_pid" ]; then
    kill -TERM -- "-$server_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 -- "-$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$server_pid" 2>/dev/null || true
  fi
  rm -rf "$run"
}
trap cleanup EXIT
trap 'echo; echo "Stopping code-server…"; exit 130' INT TERM

port="${BERT_DEMO_PORT:-$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")}"
mkdir -p "$run/user-data/User" "$run/extensions" "$run/home" "$run/xdg/config" "$run/xdg/data"
printf 'bind-addr: 127.0.0.1:%s\nauth: none\ncert: false\n' "$port" >"$run/config.yaml"
printf '{ "workbench.startupEditor": "welcomePage", "telemetry.telemetryLevel": "off", "update.mode": "none", "extensions.autoCheckUpdates": false }\n' \
  >"$run/user-data/User/settings.json"
server_env=(env HOME="$run/home" XDG_CONFIG_HOME="$run/xdg/config" XDG_DATA_HOME="$run/xdg/data")
common=(--config "$run/config.yaml" --user-data-dir "$run/user-data" --extensions-dir "$run/extensions")

"${server_env[@]}" "$code_server" "${common[@]}" --install-extension "$vsix" >"$run/install.log" 2>&1 ||
  { cat "$run/install.log" >&2; exit 1; }
# Its own process group (setsid), so that stopping it stops the extension host and the language server too.
setsid "${server_env[@]}" "$code_server" "${common[@]}" --bind-addr "127.0.0.1:$port" --auth none \
  --disable-telemetry --disable-update-check "$root/samples" >"$run/code-server.log" 2>&1 &
server_pid=$!

url="http://127.0.0.1:$port/?folder=$root/samples"
# GET with Node (curl is not on every machine): prints the body, fails on anything but 200.
get() { node -e "fetch(process.argv[1]).then(async (r) => { if (!r.ok) process.exit(1); process.stdout.write(await r.text()); }, () => process.exit(1))" "$1"; }
for _ in $(seq 1 150); do
  get "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$run/code-server.log" >&2; echo "demo: code-server exited" >&2; exit 1; }
  sleep 0.2
done
page="$(get "$url")" || { echo "demo: the workbench did not answer at $url" >&2; exit 1; }
grep -q 'workbench' <<<"$page" || { echo "demo: $url did not serve the workbench" >&2; exit 1; }
"${server_env[@]}" "$code_server" "${common[@]}" --list-extensions 2>/dev/null | grep -qx "$extension_id" ||
  { echo "demo: the extension is not installed in code-server" >&2; exit 1; }

if [ "$check" = 1 ]; then
  echo "demo check: code-server answered at $url with $extension_id installed."
  exit 0
fi
echo
echo "BERT Workbench is running in code-server (VS Code in the browser), offline, on samples/:"
echo
echo "    $url"
echo
echo "Open it in a browser on this machine, trust the folder, then run \"BERT: Fine-tune on Workspace Data\""
echo "from the Command Palette (F1), or open the walkthrough \"Fine-tune BERT on your data\" on the Welcome page."
echo "Press Ctrl-C to stop."
wait "$server_pid"
