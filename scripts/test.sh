#!/usr/bin/env bash
# Run the test suite; PostgreSQL too when a server answers on 127.0.0.1:5432 (or TEST_DATABASE_URL is set).
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TEST_DATABASE_URL:-}" ] && .venv/bin/python - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", 5432))
except OSError:
    sys.exit(1)
PY
then
  if .venv/bin/python -c "import psycopg; psycopg.connect('postgresql://postgres@127.0.0.1:5432/test', connect_timeout=3).close()" 2>/dev/null; then
    export TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/test"
  elif .venv/bin/python -c "import psycopg; psycopg.connect('postgresql://127.0.0.1:5432/test', connect_timeout=3).close()" 2>/dev/null; then
    export TEST_DATABASE_URL="postgresql://127.0.0.1:5432/test"
  fi
fi
# the house's layers (pyproject.toml [tool.importlinter], docs/architecture.md): an import that points up fails
.venv/bin/lint-imports --no-cache >/tmp/bharosa-lint-imports.$$ 2>&1 || { cat /tmp/bharosa-lint-imports.$$; rm -f /tmp/bharosa-lint-imports.$$; echo "import contracts broken"; exit 1; }
rm -f /tmp/bharosa-lint-imports.$$; echo "import contracts kept"
echo "database tests: SQLite${TEST_DATABASE_URL:+ and PostgreSQL ($TEST_DATABASE_URL)}"
.venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "no tests ran"; fi
exit $rc
