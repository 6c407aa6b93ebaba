#!/usr/bin/env bash
# `make run`: Redis (local, only when REDIS_URL is unset), migrations + zone, the worker, gunicorn.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-5000}"
BIN=.venv/bin
mkdir -p var/log
pids=()
# every process this script started, with their children (gunicorn's workers, rq's work horse): a child whose
# parent is killed outlives it and keeps the terminal's output open
tree() { local p; for p in "$@"; do echo "$p"; tree $(pgrep -P "$p" 2>/dev/null); done; }
alive() { for p in "$@"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping..."
  local all; all=$(tree "${pids[@]}")
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  # rq finishes its current job on the first signal; a second one stops it at once; then no mercy.
  for i in $(seq 50); do alive $all || break; sleep 0.1; [ "$i" = 30 ] && for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done; done
  for p in $all; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

# Stop here, with one clear line, if the zone or the environment is wrong (before starting anything); production
# needs Twilio's settings and BHAROSA_SECRET_KEY (app.check_environment; dev mode generates var/secret_key).
$BIN/python app.py check >/dev/null || exit 2

redis_up() { $BIN/python -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()" "$1" 2>/dev/null; }

if [ -z "${REDIS_URL:-}" ]; then
  export REDIS_URL="redis://127.0.0.1:${REDIS_PORT:-6379}/0"
  if redis_up "$REDIS_URL"; then
    echo "using the Redis already running at $REDIS_URL"
  else
    echo "starting a local Redis at $REDIS_URL"
    redis-server --bind 127.0.0.1 --port "${REDIS_PORT:-6379}" --save "" --appendonly no \
      --dir "$PWD/var" --logfile "$PWD/var/log/redis.log" &
    pids+=($!)
    for _ in $(seq 50); do redis_up "$REDIS_URL" && break; sleep 0.1; done
    redis_up "$REDIS_URL" || { echo "bharosa: the local Redis did not start; see var/log/redis.log" >&2; exit 1; }
  fi
else
  until redis_up "$REDIS_URL"; do echo "waiting for Redis at $REDIS_URL ..."; sleep 2; done
fi

$BIN/python app.py init

WORKERS="${WEB_WORKERS:-$(( $(nproc) * 2 ))}"
$BIN/python worker.py >var/log/worker.log 2>&1 &
pids+=($!)
for i in $(seq 2 "${RQ_WORKERS:-1}"); do $BIN/python worker.py --rq-only >>var/log/worker.log 2>&1 & pids+=($!); done
# Dev mode serves the simulator, which has no sign-in: it listens on this machine only. HOST overrides either.
mode="${BHAROSA_ENV:-}"
if [ "${mode,,}" = dev ]; then BIND_HOST="${HOST:-127.0.0.1}"; else BIND_HOST="${HOST:-0.0.0.0}"; fi
$BIN/gunicorn "app:create_app()" --bind "$BIND_HOST:$PORT" --workers "$WORKERS" --threads "${WEB_THREADS:-4}" \
  --worker-class gthread --timeout 30 --graceful-timeout 10 --access-logfile var/log/access.log \
  --error-logfile - --log-level warning &
pids+=($!)

base="${PUBLIC_BASE_URL:-http://localhost:$PORT}"
cat <<MSG

Bharosa is running on $BIND_HOST:$PORT  (logs in var/log/, Ctrl-C stops everything; HOST= to listen elsewhere)
  health:    http://localhost:$PORT/healthz
  console:   http://localhost:$PORT/console/
  citizens:  http://localhost:$PORT/complaint

Paste these into your Twilio number's configuration (set PUBLIC_BASE_URL to your public https URL):
  WhatsApp / SMS "A message comes in":  $base/twilio/whatsapp   $base/twilio/sms
  Voice "A call comes in":              $base/twilio/voice
  Status callback:                      $base/twilio/status

Try it without Twilio: BHAROSA_ENV=dev make run, then
  .venv/bin/python app.py chat            (terminal chat as a citizen)
  http://localhost:$PORT/simulator        (a phone in the browser)
MSG
wait -n "${pids[@]}" || true
echo "a process exited; see var/log/"
