#!/usr/bin/env bash
# The whole test suite, as the README's quick start and CI run it: installs what is missing,
# type-checks, builds, runs the unit tests, then the end-to-end tests in a real VS Code, and ends
# with one summary line "total: N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/ensure-deps.sh || exit 1
npx --no-install tsc --noEmit -p . || { echo "total: 0 passed, 1 failed (type errors)"; exit 1; }
node esbuild.mjs || { echo "total: 0 passed, 1 failed (build)"; exit 1; }

logs="$(mktemp -d)"
node test/run-unit.mjs 2>&1 | tee "$logs/unit.log"
unit_status=${PIPESTATUS[0]}
e2e_status=0
if [ -f test/e2e/run.mjs ] && [ "${SKIP_E2E:-}" != 1 ]; then
  npm run --silent test:e2e 2>&1 | tee "$logs/e2e.log"
  e2e_status=${PIPESTATUS[0]}
fi

# Add up the "N passed, N failed" lines the suites end with.
summary() { grep -hoE '[0-9]+ passed, [0-9]+ failed' "$logs"/*.log | awk '{p+=$1; f+=$3} END {print p+0, f+0}'; }
read -r passed failed < <(summary)
if [ "$unit_status" -ne 0 ] || [ "$e2e_status" -ne 0 ]; then [ "$failed" -gt 0 ] || failed=1; fi
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
