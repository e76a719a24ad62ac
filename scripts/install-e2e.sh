#!/usr/bin/env bash
# Installs what the end-to-end suite needs (see docs E2E.md): Debian chromium, ripgrep and the
# kerberos headers from apt, then code-server + playwright-core into test/e2e/node_modules.
# Idempotent: when everything is already in place it returns in well under a second.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
e2e="$root/test/e2e"
code_server_version="$(node -p "require('$e2e/package.json').devDependencies['code-server']")"
# The @vscode/ripgrep version that code-server 4.100.3 pins; its postinstall looks for a cached
# download named after it before trying GitHub.
ripgrep_pkg_version="1.15.11"
ripgrep_asset="ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_apt_packages() {
  local missing=()
  command -v chromium >/dev/null || missing+=(chromium)
  command -v rg >/dev/null || missing+=(ripgrep)
  dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "install-e2e: apt-get install ${missing[*]} (about 30 s)"
  local log="${TMPDIR:-/tmp}/install-e2e-apt.log"
  if ! {
    as_root apt-get update -qq &&
      as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq -o DPkg::Lock::Timeout=900 "${missing[@]}"
  } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "install-e2e: apt-get failed; full log in $log" >&2
    exit 1
  fi
}

seed_ripgrep_cache() {
  local cache="${TMPDIR:-/tmp}/vscode-ripgrep-cache-$ripgrep_pkg_version"
  [ -f "$cache/$ripgrep_asset" ] && return 0
  mkdir -p "$cache"
  tar czf "$cache/$ripgrep_asset" -C "$(dirname "$(command -v rg)")" rg
}

# A stamp holding the lock file's hash tells whether node_modules matches the lock. Contents only:
# the same files elsewhere (a copy of the tree whose node_modules is a symlink to this one) match.
lock_stamp() { cat "$e2e/package.json" "$e2e/package-lock.json" 2>/dev/null | sha256sum | cut -c1-16; }
stamp_file="$e2e/node_modules/.install-e2e-stamp"

node_modules_current() {
  [ -f "$e2e/package-lock.json" ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$(lock_stamp)" ] &&
    [ -x "$e2e/node_modules/.bin/code-server" ] && [ -d "$e2e/node_modules/playwright-core" ]
}

install_node_modules() {
  node_modules_current && return 0
  echo "install-e2e: installing code-server $code_server_version and playwright-core (about a minute)"
  seed_ripgrep_cache
  local verb=ci
  [ -f "$e2e/package-lock.json" ] || verb=install
  # code-server's postinstall refuses root without unsafe-perm; node-pty's postinstall runs npx.
  (cd "$e2e" && TMPDIR="${TMPDIR:-/tmp}" npm_config_unsafe_perm=true npm_config_yes=true \
    npm "$verb" --no-audit --no-fund --loglevel=error)
  lock_stamp >"$stamp_file"
}

install_apt_packages
install_node_modules
echo "install-e2e: ready (chromium $(chromium --version 2>/dev/null | awk '{print $2}'), code-server $code_server_version)"
