#!/bin/sh
# criu --action-script (see adapter/engine/sideEffects.ts). criu calls it for every action of a dump;
# only post-dump matters: the program is still frozen, so what it has on disk is exactly what the
# checkpoint sees. Shell builtins (and coreutils' stat/cp for files in flight) until there is Python
# work to do, so a program without open files pays no Python start-up while frozen.
[ "$CRTOOLS_SCRIPT_ACTION" = post-dump ] || exit 0
dir=${AXOLOTL_FILES_DIR:-$CRTOOLS_IMAGE_DIR}

# The agent's file journal (adapter/engine/fileRewind.ts): this checkpoint starts the next epoch. The
# page the agent maps holds the epoch on its first line, then one line per file an operation of the
# program is about to change ("kind<TAB>size:mtime:inode or -<TAB>path"), up to an empty line. criu
# may have frozen the program between the agent's announcement and the operation: those files are
# recorded as they are now (inflight.tsv), with a copy when the content was about to change and has
# not yet (it still matches what the agent saw).
state=${AXOLOTL_FILES_STATE:-}
if [ -n "$state" ] && [ -f "$state" ] && [ -n "${AXOLOTL_FILES_EPOCH:-}" ]; then
  n=0
  {
    read -r _epoch
    while IFS= read -r line; do
      [ -n "$line" ] || break
      n=$((n + 1))
      kind=${line%%"	"*}
      rest=${line#*"	"}
      seen=${rest%%"	"*}
      p=${rest#*"	"}
      case $kind in a|c) ;; *) continue ;; esac
      now=$(stat -L -c '%s:%.9Y:%i' -- "$p" 2>/dev/null) || now=-  # as the agent's os.stat: through links
      copy=-
      if [ "$kind" = c ] && [ "$now" != - ] && [ "$now" = "$seen" ]; then
        if [ "${now%%:*}" -le "${AXOLOTL_FILES_MAX_COPY:-268435456}" ]; then
          cp -p --reflink=auto -- "$p" "$dir/inflight-$n" || exit 1
          copy=inflight-$n
        else
          copy=big
        fi
      fi
      printf '%s\t%s\t%s\t%s\t%s\n' "$kind" "$seen" "$now" "$copy" "$p" >> "$dir/inflight.tsv" || exit 1
    done
  } < "$state"
  printf '%s\n' "$AXOLOTL_FILES_EPOCH" > "$dir/files-epoch" || exit 1
  # In place (no truncation): the agent has this page mapped.
  printf '%020d\n' "$AXOLOTL_FILES_EPOCH" 1<>"$state" || exit 1
fi

# Files the program holds open for writing (axolotl_files.py).
pid=${AXOLOTL_FILES_PID:-}
[ -n "$pid" ] || exit 0
need=
for f in /proc/"$pid"/fd/*; do
  [ -f "$f" ] || continue
  [ -n "$state" ] && [ "$f" -ef "$state" ] && continue  # the journal's page, not the program's file
  need=1; break
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
