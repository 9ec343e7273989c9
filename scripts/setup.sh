#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine to run Axolotl from this checkout: node packages, criu 4.1 in a
# private prefix (system packages untouched), and the bundles. Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo "setup: $*" >&2; }

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing node packages"
  npm ci --no-audit --no-fund --loglevel=error
fi
missing=()
command -v python3 >/dev/null || missing+=(python3)
command -v apt-get >/dev/null && [ ! -r /usr/share/keyrings/debian-archive-keyring.gpg ] && missing+=(debian-archive-keyring)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]}"
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
step "criu"
# Without a proven criu Axolotl still runs, on fork snapshots (install-criu.sh says why none passed).
bash scripts/install-criu.sh >/dev/null || step "no criu works here: Axolotl will use fork snapshots"
if [ "$(id -u)" -eq 0 ]; then
  step "pkexec helper (lets non-root users checkpoint)"
  bash scripts/install-helper.sh >/dev/null
fi
step "building bundles"
npm run --silent build
