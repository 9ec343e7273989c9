#!/usr/bin/env bash
# Installs what the real-VS-Code end-to-end tests (test/e2e/) need:
#   - Debian packages: chromium, ripgrep, build-essential, libkrb5-dev, python3
#   - code-server (VS Code in a browser) in a private prefix, built for the running Node
#   - playwright-core as a devDependency of the project (drives Debian's chromium; never
#     downloads a browser of its own)
#
# code-server's npm postinstall downloads things and so cannot run here; it is installed with
# --ignore-scripts and its postinstall steps are done by hand below, offline.
#
# Usage: scripts/install-e2e.sh
#   AXOLOTL_E2E_HOME   where code-server goes (default ~/.cache/axolotl-e2e)
# Idempotent: when everything is in place it is a quick no-op. Prints the code-server directory
# on its last line. Each step logs to $AXOLOTL_E2E_HOME/logs/<step>.log; a failing step stops the
# script with a nonzero exit and the tail of its log.
set -euo pipefail

CS_VERSION=4.100.3          # last code-server line that runs on Node 20 (VS Code 1.100.3)
PW_VERSION=1.61.1           # playwright-core whose Chromium (149) is not newer than Debian's (150)
APT_PACKAGES=(chromium ripgrep build-essential libkrb5-dev python3)

PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
E2E_HOME=${AXOLOTL_E2E_HOME:-$HOME/.cache/axolotl-e2e}
ROOT=$E2E_HOME/code-server-$CS_VERSION        # npm prefix holding node_modules/code-server
CS=$ROOT/node_modules/code-server
VS=$CS/lib/vscode
LOGS=$E2E_HOME/logs
MARKS=$ROOT/.steps

say() { echo "install-e2e: $*" >&2; }
REPORTED=
die() { say "ERROR: $*"; REPORTED=1; exit 1; }
# Anything failing outside the steps below still gets a message naming the command.
trap 'rc=$?; [ "$rc" = 0 ] || [ -n "$REPORTED" ] || say "ERROR: exit $rc at: $BASH_COMMAND"' EXIT
now() { echo "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

T0=$(now)
mkdir -p "$LOGS"

command -v node >/dev/null || die "node is not on PATH"
command -v npm >/dev/null || die "npm is not on PATH"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" = 20 ] || die "code-server $CS_VERSION needs Node 20; this is Node $(node -v)"
# Native addons depend on the Node ABI; a Node with another ABI redoes the steps.
KEY="code-server $CS_VERSION; node abi $(node -p process.versions.modules) $(uname -m)"

# run NAME CMD...: runs CMD with output in $LOGS/NAME.log, prints its time, stops on failure.
run() {
  local name=$1 t rc; shift
  t=$(now)
  say "$name ..."
  # A subshell with its own errexit: any failing command inside the step fails the step.
  set +e
  ( set -e; "$@" ) >"$LOGS/$name.log" 2>&1
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then
    say "$name done in $(elapsed "$t")s"
  else
    say "ERROR: step '$name' failed (exit $rc) after $(elapsed "$t")s; last lines of $LOGS/$name.log:"
    tail -n 40 "$LOGS/$name.log" | sed 's/^/    /' >&2
    REPORTED=1
    exit "$rc"
  fi
}

# step NAME CMD...: like run, but skipped when it already succeeded for the same $KEY.
step() {
  local name=$1
  if [ "$(cat "$MARKS/$name" 2>/dev/null)" = "$KEY" ]; then return 0; fi
  run "$@"
  mkdir -p "$MARKS"
  echo "$KEY" >"$MARKS/$name"
}

# ---- Debian packages --------------------------------------------------------------------
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
apt_install() {
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "not root and no sudo: install ${missing[*]} by hand"; return 1; }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Update only because something is missing. A failing extra source should not stop us: the
  # install below tells whether the lists that matter are usable.
  "${sudo[@]}" apt-get update || echo "apt-get update reported errors; trying the install anyway"
  "${sudo[@]}" apt-get install -y "${missing[@]}"
}
if [ ${#missing[@]} -gt 0 ]; then
  run apt apt_install
fi
for p in /usr/bin/chromium /usr/bin/rg; do [ -x "$p" ] || die "$p missing after apt install"; done

# ---- playwright-core in the project -------------------------------------------------------
pw_install() {
  cd "$PROJECT"
  if node -e 'process.exit(require("./package.json").devDependencies?.["playwright-core"] ? 0 : 1)'; then
    npm install --no-audit --no-fund     # listed already: install what package.json pins
  else
    npm install --no-audit --no-fund --save-dev --save-exact "playwright-core@$PW_VERSION"
  fi
}
if ! (cd "$PROJECT" && node -e 'require.resolve("playwright-core")' 2>/dev/null); then
  run playwright-core pw_install
fi

# ---- code-server ------------------------------------------------------------------------
NODEDIR=$(node -p 'require("path").resolve(process.execPath, "../..")')
[ -f "$NODEDIR/include/node/node.h" ] || die "no Node headers in $NODEDIR/include/node (needed to build native addons offline)"
NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
NODE_GYP=$NPM_DIR/node_modules/node-gyp/bin/node-gyp.js
[ -f "$NODE_GYP" ] || die "npm's bundled node-gyp not found at $NODE_GYP"
PY=$(command -v /usr/bin/python3 || command -v python3)
# Build against the local headers: Node headers cannot be downloaded here. PYTHON is for node-gyp.
export npm_config_nodedir=$NODEDIR PYTHON=$PY
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

fetch_code_server() {
  mkdir -p "$ROOT"
  cd "$ROOT"
  [ -f package.json ] || echo '{ "private": true }' >package.json
  npm install --ignore-scripts --omit=dev "code-server@$CS_VERSION"
  [ -f "$CS/out/node/entry.js" ] || { echo "no out/node/entry.js after install"; return 1; }
}

rebuild_argon2() {
  cd "$ROOT"
  # Its prebuilt-binary download fails (offline); then it builds from source.
  npm_config_build_from_source=true npm rebuild argon2
  node -e 'require("argon2")'
}

vscode_deps() {
  cd "$VS"
  npm install --omit=dev --ignore-scripts
}

# Builds every native addon under lib/vscode/node_modules with npm's own node-gyp (their npm
# scripts call `npx node-gyp`, which is not there offline). Windows/macOS-only ones are skipped,
# and so is @parcel/watcher, whose Linux binary is a separate prebuilt npm package.
native_addons() {
  local gyp dir name built=0
  while IFS= read -r gyp; do
    dir=$(dirname "$gyp")
    name=${dir#"$VS/node_modules/"}
    case "$name" in
      */node_modules/*|@parcel/watcher|*windows*)
        echo "skip $name"; continue ;;
    esac
    echo "=== build $name"
    (cd "$dir" && node "$NODE_GYP" rebuild --jobs max) || { echo "FAILED: $name"; return 1; }
    built=$((built + 1))
  done < <(find "$VS/node_modules" -maxdepth 3 -name binding.gyp | sort)
  echo "built $built addons"
  [ "$built" -gt 0 ]
  # The ones VS Code's server needs on Linux must load.
  cd "$VS"
  node -e 'for (const m of ["node-pty", "@vscode/spdlog", "native-watchdog", "@vscode/deviceid", "kerberos"]) { require(m); console.log("loads:", m); }'
}

links() {
  mkdir -p "$VS/node_modules/@vscode/ripgrep/bin"
  ln -sfn /usr/bin/rg "$VS/node_modules/@vscode/ripgrep/bin/rg"
  ln -sfn node_modules "$VS/node_modules.asar"
  ln -sfn code-linux.sh "$VS/bin/remote-cli/code-server"
  ln -sfn browser-linux.sh "$VS/bin/helpers/browser.sh"
  "$VS/node_modules/@vscode/ripgrep/bin/rg" --version
}

extension_deps() {
  cd "$VS/extensions"
  npm install --omit=dev
}

step code-server-fetch fetch_code_server
step argon2 rebuild_argon2
step vscode-deps vscode_deps
step native-addons native_addons
step links links
step extension-deps extension_deps

[ -f "$CS/out/node/entry.js" ] && [ -x "$VS/node_modules/@vscode/ripgrep/bin/rg" ] \
  || die "code-server install at $CS is incomplete; remove $ROOT and rerun"
say "ready in $(elapsed "$T0")s: code-server $CS_VERSION, playwright-core, /usr/bin/chromium"
echo "$CS"
