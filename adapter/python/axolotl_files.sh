#!/bin/sh
# criu --action-script (see adapter/engine/sideEffects.ts). criu calls it for every action of a dump;
# only post-dump matters: the program is still frozen, so the files it has open for writing are
# saved exactly as the checkpoint sees them. Pure shell builtins until there is something to do, so
# a program without open files pays no Python start-up while frozen.
[ "$CRTOOLS_SCRIPT_ACTION" = post-dump ] || exit 0
pid=${AXOLOTL_FILES_PID:-}
[ -n "$pid" ] || exit 0
need=
for f in /proc/"$pid"/fd/*; do
  if [ -f "$f" ]; then need=1; break; fi
done
if [ -z "$need" ]; then
  for c in /proc/"$pid"/task/*/children; do
    kids=
    read -r kids 2>/dev/null < "$c"
    if [ -n "$kids" ]; then need=1; break; fi
  done
fi
[ -n "$need" ] || exit 0
exec "${AXOLOTL_FILES_PYTHON:-python3}" -I -S "$(dirname "$0")/axolotl_files.py"
