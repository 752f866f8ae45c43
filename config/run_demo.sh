#!/usr/bin/env bash
# Runs the demo: Stripe emulator, Celery worker and beat, and the web server. Ctrl-C stops all.
# DEMO_PORT (8000), STRIPE_EMULATOR_PORT (12111) and DEMO_DIR (.demo) let a second copy run
# beside it on a scratch database (the demo-stack browser test does: tests/demo_stack/).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DEMO_PORT="${DEMO_PORT:-8000}"
EMULATOR_PORT="${STRIPE_EMULATOR_PORT:-12111}"
DEMO_DIR="${DEMO_DIR:-.demo}"
export SITE_URL="${SITE_URL:-http://127.0.0.1:$DEMO_PORT}"
export STRIPE_API_BASE="${STRIPE_API_BASE:-http://127.0.0.1:$EMULATOR_PORT}"
mkdir -p "$DEMO_DIR"
pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "Stopping the demo…"
  kill "${pids[@]}" 2>/dev/null
  wait 2>/dev/null
  exit 0
}
trap stop INT TERM EXIT

if $PY -c "import stripe_emulator" 2>/dev/null; then
  $PY -m stripe_emulator --host 127.0.0.1 --port "$EMULATOR_PORT" \
    --state-file "$DEMO_DIR/stripe-emulator.json" > "$DEMO_DIR/emulator.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 40); do
    curl -fs "http://127.0.0.1:$EMULATOR_PORT/_emulator/config" >/dev/null 2>&1 && break
    sleep 0.25
  done
  # The emulator signs every event with STRIPE_WEBHOOK_SECRET and POSTs it to our endpoint.
  $PY manage.py stripe_webhook_register --url "http://127.0.0.1:$DEMO_PORT/stripe/webhooks/" \
    >> "$DEMO_DIR/emulator.log" 2>&1 || echo "  (Stripe webhooks not registered: see $DEMO_DIR/emulator.log)"
fi
.venv/bin/celery -A config worker --loglevel=INFO --concurrency=2 > "$DEMO_DIR/worker.log" 2>&1 &
pids+=($!)
.venv/bin/celery -A config beat --loglevel=INFO --schedule "$DEMO_DIR/celerybeat-schedule" \
  > "$DEMO_DIR/beat.log" 2>&1 &
pids+=($!)
$PY manage.py runserver "127.0.0.1:$DEMO_PORT" --noreload > "$DEMO_DIR/web.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 60); do
  curl -fs "http://127.0.0.1:$DEMO_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
cat <<BANNER

  TrainRight is running at http://127.0.0.1:$DEMO_PORT
  API docs: http://127.0.0.1:$DEMO_PORT/api/docs/    Health: http://127.0.0.1:$DEMO_PORT/healthz

BANNER
$PY manage.py demo_seed | tail -n +2
echo "  admin         admin@trainright.demo        (Django admin at /admin/)"
echo
echo "  The sandbox clock (the yellow banner) moves the platform's time forward: see the"
echo "  README's walkthrough. Logs are in $DEMO_DIR/. Press Ctrl-C to stop everything."
echo "TrainRight demo ready"
wait
