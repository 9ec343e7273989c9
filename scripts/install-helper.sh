#!/usr/bin/env bash
# Installs the privileged pkexec helper that lets a non-root user checkpoint with CRIU.
#
# Run as root (sudo bash scripts/install-helper.sh); scripts/setup.sh calls it when run as root.
#   * criu 4.1 into a root-owned prefix, /usr/local/lib/axolotl (never a criu from a user's home,
#     which that user could replace)
#   * the helper to /usr/local/libexec/axolotl/axolotl-helper (root:root 0755, folder root:root 0755)
#   * its polkit action, /usr/share/polkit-1/actions/dev.axolotl.helper.policy (auth_admin_keep,
#     exec.path pinned to the helper)
#   * the image store /var/lib/axolotl (root:root 0700); its per-user limit (default 20 GiB) can be
#     set in /etc/axolotl/helper.json (root-owned), see README.md, "The pkexec helper"
#   * Debian packages pkexec and polkitd when missing
# Idempotent. `--uninstall` removes the helper, its policy and the criu prefix (images stay).
set -euo pipefail
cd "$(dirname "$0")/.."

HELPER_DIR=/usr/local/libexec/axolotl
HELPER=$HELPER_DIR/axolotl-helper
CRIU_PREFIX=/usr/local/lib/axolotl
POLICY=/usr/share/polkit-1/actions/dev.axolotl.helper.policy
STATE=/var/lib/axolotl

say() { echo "install-helper: $*" >&2; }

[ "$(id -u)" -eq 0 ] || { say "run me as root: sudo bash $0"; exit 1; }

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$HELPER" "$POLICY"
  rmdir "$HELPER_DIR" 2>/dev/null || true
  rm -rf "$CRIU_PREFIX"
  say "removed $HELPER, $POLICY and $CRIU_PREFIX (images in $STATE kept)"
  exit 0
fi

[ -x /usr/bin/python3 ] || { say "the helper needs /usr/bin/python3 (apt-get install python3)"; exit 1; }
missing=()
[ -u /usr/bin/pkexec ] || missing+=(pkexec)
[ -x /usr/lib/polkit-1/polkitd ] || missing+=(polkitd)
command -v dbus-daemon >/dev/null || missing+=(dbus)
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || { say "install ${missing[*]} (pkexec and polkit), then run me again"; exit 1; }
  say "installing ${missing[*]}"
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# criu, root-owned. A working system criu (root-owned by its package) is linked; otherwise criu 4.1
# from Debian trixie is extracted into the prefix by install-criu.sh.
umask 022
mkdir -p "$CRIU_PREFIX"
criu=$(bash scripts/install-criu.sh "$CRIU_PREFIX" | tail -n1)
if [ "$criu" != "$CRIU_PREFIX/bin/criu" ]; then
  target=$(readlink -f "$criu")
  case "$target" in
    /usr/sbin/*|/usr/bin/*|/sbin/*|/bin/*) ;;   # a packaged criu: root-owned and runnable by users
    *) say "install-criu.sh chose $target; the helper only uses a packaged criu or its own prefix"; exit 1 ;;
  esac
  mkdir -p "$CRIU_PREFIX/bin"
  ln -sfn "$target" "$CRIU_PREFIX/bin/criu"
fi
rm -rf "$CRIU_PREFIX/apt"   # download cache (partly owned by _apt); not needed to run criu
chown -R root:root "$CRIU_PREFIX"
chmod -R go-w "$CRIU_PREFIX"

# The helper and its folder: root-owned and writable by root only, or a user could edit it and
# become root through the policy below.
install -d -o root -g root -m 0755 "$HELPER_DIR"
install -o root -g root -m 0755 adapter/helper/axolotl-helper "$HELPER.new"
mv -f "$HELPER.new" "$HELPER"
install -d -o root -g root -m 0755 "$(dirname "$POLICY")"
sed "s#@HELPER@#$HELPER#g" adapter/helper/dev.axolotl.helper.policy.in > "$POLICY.new"
chown root:root "$POLICY.new"; chmod 0644 "$POLICY.new"; mv -f "$POLICY.new" "$POLICY"
install -d -o root -g root -m 0700 "$STATE"

say "helper $HELPER (polkit action dev.axolotl.helper, admin authentication kept for a few minutes)"
say "criu $("$CRIU_PREFIX/bin/criu" --version | sed -n 's/^Version: //p') at $CRIU_PREFIX/bin/criu"
say "to let a group use it without a password, add a rule in /etc/polkit-1/rules.d/, e.g.:"
say '  polkit.addRule(function(a, s) { if (a.id == "dev.axolotl.helper" && s.isInGroup("axolotl")) return polkit.Result.YES; });'
echo "$HELPER"
