#!/usr/bin/env bash
# Gives Axolotl a criu that is proven to work on this machine, without touching the system's packages.
#
# `criu check` is not proof: on some kernels trixie's criu 4.1.1 passes it and then hangs in every
# dump (and resumes stopped tasks), and Debian 12's own 3.17 fails on kernels >= 6.13. So each
# candidate is tried in order and the first one that passes a real dump and restore of throwaway
# processes (adapter/python/axolotl_criu_probe.py) is kept:
#   system   the criu on PATH, if any
#   trixie   Debian trixie's criu 4.1.x
#   sid      Debian sid's criu 4.2.x (it notices when hardware breakpoints do not work here)
#   trixie-nobp  trixie's criu with CRIU_FAULT=130 (4.1.x's switch that avoids hardware breakpoints)
# Debian packages are fetched with a private apt configuration (the system's sources and status are
# never read or written), extracted into PREFIX/dists/<suite>, and run through that prefix's own
# dynamic loader, because they need a newer glibc than Debian 12 has. PREFIX/bin/criu is a launcher
# for the one that was kept.
#
# Usage: install-criu.sh [PREFIX]   (default: $AXOLOTL_HOME or ~/.local/share/axolotl)
#   AXOLOTL_CRIU_CANDIDATES  the candidates to try, in order (default "system trixie sid trixie-nobp";
#                            "path:FILE" tries the criu FILE)
# Prints the path of the criu launcher on its last line. Needs root to prove a criu (criu does).
set -euo pipefail

PREFIX=${1:-${AXOLOTL_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/axolotl}}
LAUNCHER="$PREFIX/bin/criu"
PROBE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/adapter/python/axolotl_criu_probe.py"
CANDIDATES=${AXOLOTL_CRIU_CANDIDATES:-system trixie sid trixie-nobp}

say() { echo "install-criu: $*" >&2; }

# probe CRIU [ENV=VALUE]: a real dump and restore; prints the reason when it fails.
probe() {
  local criu=$1; shift
  local args=() out
  for e in "$@"; do args+=(--env "$e"); done
  if out=$(python3 "$PROBE" "$criu" "${args[@]}" 2>&1); then return 0; fi
  say "  $(printf '%s' "$out" | python3 -c 'import json,sys
try:
    r = json.load(sys.stdin); print("criu %s: %s (at %s)" % (r.get("version"), r.get("error"), r.get("stage")))
except Exception:
    print("the probe failed")')"
  return 1
}

write_launcher() { # write_launcher DESCRIPTION COMMAND [ENV=VALUE]
  mkdir -p "$PREFIX/bin"
  {
    echo "#!/bin/sh"
    echo "# $1 (kept by install-criu.sh: it passed a real dump and restore on kernel $(uname -r))."
    [ -n "${3:-}" ] && echo "export $3"
    echo "exec $2 \"\$@\""
  } > "$LAUNCHER.new"
  chmod 755 "$LAUNCHER.new"
  mv -f "$LAUNCHER.new" "$LAUNCHER"
}

if [ "$(id -u)" -ne 0 ]; then
  # criu needs privileges for a dump, so a proof needs root; the pkexec helper's criu is proven by
  # install-helper.sh (as root). Without root, leave what is there, or install trixie's unproven.
  [ -x "$LAUNCHER" ] && { say "not root: cannot prove $LAUNCHER here; keeping it"; echo "$LAUNCHER"; exit 0; }
  CANDIDATES=trixie
  NO_PROOF=1
fi

if [ -z "${NO_PROOF:-}" ] && [ -x "$LAUNCHER" ] && probe "$LAUNCHER"; then
  say "criu at $LAUNCHER still passes a real dump and restore here"
  echo "$LAUNCHER"; exit 0
fi

# The mirror comes from the system's own apt sources, so this works behind local mirrors too.
mirror() { bash "$(dirname "${BASH_SOURCE[0]}")/debian-mirror.sh"; }

# fetch SUITE: extracts criu and its library closure from Debian SUITE into PREFIX/dists/SUITE and
# prints the command that runs it. Skipped when already extracted.
fetch() {
  local suite=$1 root="$PREFIX/dists/$1/root"
  local cmd="\"$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\" --library-path \"$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu\" \"$root/usr/sbin/criu\""
  if [ ! -x "$root/usr/sbin/criu" ]; then
    local url keyring=/usr/share/keyrings/debian-archive-keyring.gpg apt_dir="$PREFIX/dists/$suite/apt"
    url=$(mirror)
    [ -n "$url" ] || { say "no Debian mirror found in /etc/apt/sources*; cannot fetch criu"; return 1; }
    [ -r "$keyring" ] || { say "missing $keyring (apt-get install debian-archive-keyring)"; return 1; }
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/etc/preferences.d" \
             "$apt_dir/etc/sources.list.d" "$apt_dir/debs" "$root"
    echo "deb [signed-by=$keyring] $url $suite main" > "$apt_dir/etc/sources.list"
    : > "$apt_dir/status"
    # The system's update hooks (PackageKit, AppStream) are about the system's lists, not these.
    printf '#clear APT::Update::Post-Invoke-Success;\n#clear APT::Update::Post-Invoke;\n' > "$apt_dir/etc/apt.conf"
    local apt=(-c "$apt_dir/etc/apt.conf"
         -o Dir::Etc::SourceList="$apt_dir/etc/sources.list"
         -o Dir::Etc::SourceParts="$apt_dir/etc/sources.list.d"
         -o Dir::Etc::Preferences="$apt_dir/etc/preferences"
         -o Dir::Etc::PreferencesParts="$apt_dir/etc/preferences.d"
         -o Dir::State::Lists="$apt_dir/lists"
         -o Dir::State::status="$apt_dir/status"
         -o Dir::Cache="$apt_dir/cache"
         -o APT::Sandbox::User=root
         -o Debug::NoLocking=1)
    say "fetching $suite's package lists"
    apt-get "${apt[@]}" -qq update >&2 || return 1
    # criu and what it needs to run (gcc-*-base holds only documentation).
    local pkgs
    pkgs=$(apt-cache "${apt[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
             --no-replaces --no-enhances criu | grep -vE '^ |^<' | grep -v '^gcc-.*-base$' | sort -u)
    [ -n "$pkgs" ] || { say "$suite has no criu"; return 1; }
    say "downloading $suite's criu $(apt-cache "${apt[@]}" show criu 2>/dev/null | sed -n 's/^Version: //p' | head -n1) and its libraries"
    # shellcheck disable=SC2086
    (cd "$apt_dir/debs" && apt-get "${apt[@]}" -qq download $pkgs >&2) || return 1
    for deb in "$apt_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done
    rm -rf "$apt_dir"   # package lists and .debs: not needed to run criu
  fi
  echo "$cmd"
}

for c in $CANDIDATES; do
  env_var=; desc=; cmd=
  case "$c" in
    system)
      sys_criu=$(PATH=/usr/sbin:/sbin:$PATH command -v criu || true)
      [ -n "$sys_criu" ] && [ "$(readlink -f "$sys_criu")" != "$(readlink -f "$LAUNCHER" 2>/dev/null)" ] || { say "no system criu"; continue; }
      cmd="\"$sys_criu\""; desc="the system's criu, $sys_criu" ;;
    trixie|sid)
      cmd=$(fetch "$c") || { say "could not fetch $c's criu"; continue; }
      desc="criu from Debian $c" ;;
    trixie-nobp)
      cmd=$(fetch trixie) || continue
      desc="criu from Debian trixie without hardware breakpoints"; env_var=CRIU_FAULT=130 ;;
    path:*)
      cmd="\"${c#path:}\""; desc="the criu at ${c#path:}" ;;
    *) say "unknown candidate $c"; continue ;;
  esac
  write_launcher "$desc" "$cmd" "$env_var"
  version=$("$LAUNCHER" --version 2>/dev/null | sed -n 's/^Version: //p')
  if [ -n "${NO_PROOF:-}" ]; then
    say "criu $version installed at $LAUNCHER, unproven (not root); run \`axolotl doctor\` as root"
    echo "$LAUNCHER"; exit 0
  fi
  say "trying $desc (criu $version)"
  if probe "$LAUNCHER" ${env_var:+"$env_var"}; then
    say "criu $version works here (real dump and restore): $LAUNCHER"
    echo "$LAUNCHER"; exit 0
  fi
done
rm -f "$LAUNCHER"
say "no criu passed a real dump and restore on kernel $(uname -r); Axolotl will use fork snapshots (see \`axolotl doctor\`)"
exit 1
