#!/usr/bin/env bash
# Every test of the project, as CI runs it (as root, on a fresh Debian 12 machine): installs what the
# tests need, runs each suite, and ends with one line "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
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
  f=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$results/$name.tap" | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ "$rc" -ne 0 ]; then failures+=("$name"); [ "${f:-0}" -eq 0 ] && failed=$((failed + 1)); fi
}

echo "=== typecheck"
if npx tsc -p . --noEmit; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=(typecheck); fi
rm -rf out && npx tsc -p tsconfig.test.json >/dev/null || true   # type errors were reported above

node_suite unit out/test/unit/
node_suite integration out/test/integration/

if [ -f test/python/run_tests.py ]; then
  echo "=== python agent"
  python3 test/python/run_tests.py | tee "$results/python.txt"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$results/python.txt" | tail -1)
  passed=$((passed + $(echo "$line" | cut -d' ' -f1))); failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
  [ "$rc" -ne 0 ] && failures+=(python)
fi

if ls out/test/e2e/*.e2e.js >/dev/null 2>&1; then node_suite e2e --test-concurrency=1 out/test/e2e/*.e2e.js; fi

echo "=== done in $(( $(date +%s) - started )) s${failures[*]:+; failing suites: ${failures[*]}}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failures[@]} -eq 0 ]
