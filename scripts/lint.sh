#!/usr/bin/env bash
# The checks CI runs before the tests: ruff's lint rules (complexity at most 12 included), ruff's
# formatting and mypy (pydantic plugin; strict on config, errors, acquisition and drivers). All
# three run and each failure is named; the exit status is 1 if any failed. ruff and mypy come
# with the test extra (scripts/install.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
failed=()
"$PY" -m ruff check uvscope tests benchmarks || failed+=("ruff check")
"$PY" -m ruff format --check uvscope tests benchmarks scripts || failed+=("ruff format --check")
"$PY" -m mypy || failed+=("mypy")
if ((${#failed[@]})); then
  printf 'lint: failed: %s\n' "${failed[*]}" >&2
  exit 1
fi
