#!/usr/bin/env bash
# The main job, end to end on this machine: a bundled example crashes after most of its work, a local
# scripted model proposes a repair, it is accepted, and the job resumes from its last checkpoint with
# the fixed code. No network is needed. Run as root (criu needs it; see `axolotl doctor`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

work=$(mktemp -d /tmp/axolotl-demo-XXXXXX)
cp examples/shard_stats.py "$work/"
node dist/dev/modelServer.js --port 0 --script examples/demo-model.json > "$work/model.url" &
model_pid=$!
trap 'kill $model_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$work/model.url" ] && break; sleep 0.1; done
url=$(head -n1 "$work/model.url")

echo "demo: running $work/shard_stats.py under Axolotl (model: local script at $url)" >&2
# On a terminal you review the repair yourself; elsewhere it is accepted automatically.
yes_flag=(); [ -t 0 ] && [ -t 2 ] || yes_flag=(--yes)
status=0
node dist/cli.js run "${yes_flag[@]}" --base-url "$url" --model demo-model "$work/shard_stats.py" || status=$?

echo >&2
echo "demo: the repaired file is $work/shard_stats.py; run folder: $(ls -d "$work"/.axolotl/run-*)" >&2
exit "$status"
