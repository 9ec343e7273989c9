#!/usr/bin/env bash
# Every test of the project, as CI runs it (as root, on a fresh Debian 12 machine): installs what the
# tests need, runs each suite, and ends with one line "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
# Most suites checkpoint with criu: without a proven one they would fail one by one, slowly.
criu_launcher=${AXOLOTL_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/axolotl}/bin/criu
[ -x "$criu_launcher" ] || { echo "no criu passed a real dump and restore here (see above): the tests need one"; echo "0 passed, 1 failed"; exit 1; }
[ -f scripts/install-e2e.sh ] && { bash scripts/install-e2e.sh || { echo "e2e install failed"; echo "0 passed, 1 failed"; exit 1; }; }
# Container mode's tests: podman, runc and an image built offline (about a minute once, then cached).
bash scripts/install-containers.sh >/dev/null || { echo "container install failed"; echo "0 passed, 1 failed"; exit 1; }

# The load tests (1,000 checkpoints, 100 MB of output, 50 repair cycles, a 1 GB program) add a few
# minutes; they run here unless a developer sets AXOLOTL_SLOW_TESTS=0 for a quick pass.
export AXOLOTL_SLOW_TESTS=${AXOLOTL_SLOW_TESTS:-1}

passed=0; failed=0; failures=()
results=$(mktemp -d)

# node:test suites: the TAP summary lines give the counts.
node_suite() {
  local name=$1; shift
  echo "=== $name"
  node --test --test-reporter=spec --test-reporter-destination=stdout \
       --test-reporter=tap --test-reporter-destination="$results/$name.tap" "$@"
  local rc=$?
  local p f
  p=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$results/$name.tap" | tail -1)
  # A test cancelled (its suite's setup failed, or it outlived its parent) did not pass: it counts as failed.
  f=$(( $(sed -n 's/^# fail \([0-9]*\)/\1/p' "$results/$name.tap" | tail -1) + $(sed -n 's/^# cancelled \([0-9]*\)/\1/p' "$results/$name.tap" | tail -1) + 0 ))
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ "$rc" -ne 0 ]; then failures+=("$name"); [ "${f:-0}" -eq 0 ] && failed=$((failed + 1)); fi
}

# The whole tree, then each layer in its own environment (browser, Node) and the import rules
# between folders (scripts/check-layers.mjs).
echo "=== typecheck"
if npm run --silent typecheck; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=(typecheck); fi
rm -rf out && npx tsc -p tsconfig.test.json >/dev/null || true   # type errors were reported above

node_suite unit out/test/unit/
node_suite integration out/test/integration/

# Python runners that end with "N passed, M failed".
python_suite() {
  local name=$1; shift
  echo "=== $name"
  python3 "$@" | tee "$results/$name.txt"
  local rc=${PIPESTATUS[0]}
  local line
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$results/$name.txt" | tail -1)
  if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | cut -d' ' -f1))); failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
  else
    failed=$((failed + 1))
  fi
  [ "$rc" -ne 0 ] && failures+=("$name")
}

[ -f test/python/run_tests.py ] && python_suite "python agent" test/python/run_tests.py
# real programs (CPython's own tests, probes) under plain python and under the agent, compared
[ -f test/python/transparency.py ] && python_suite "python transparency" test/python/transparency.py

if ls out/test/e2e/*.e2e.js >/dev/null 2>&1; then node_suite e2e --test-concurrency=1 out/test/e2e/*.e2e.js; fi

echo "=== done in $(( $(date +%s) - started )) s${failures[*]:+; failing suites: ${failures[*]}}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failures[@]} -eq 0 ]
