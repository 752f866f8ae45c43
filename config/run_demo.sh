#!/usr/bin/env bash
# Runs the demo: Stripe emulator, Celery worker and beat, and the web server. Ctrl-C stops all.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p .demo
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
  $PY -m stripe_emulator --host 127.0.0.1 --port "${STRIPE_EMULATOR_PORT:-12111}" \
    --state-file .demo/stripe-emulator.json > .demo/emulator.log 2>&1 &
  pids+=($!)
  for _ in $(seq 1 40); do
    curl -fs "http://127.0.0.1:${STRIPE_EMULATOR_PORT:-12111}/_emulator/config" >/dev/null 2>&1 \
      && break
    sleep 0.25
  done
  # The emulator signs every event with STRIPE_WEBHOOK_SECRET and POSTs it to our endpoint.
  $PY manage.py stripe_webhook_register --url http://127.0.0.1:8000/stripe/webhooks/ \
    >> .demo/emulator.log 2>&1 || echo "  (Stripe webhooks not registered: see .demo/emulator.log)"
fi
.venv/bin/celery -A config worker --loglevel=INFO --concurrency=2 > .demo/worker.log 2>&1 &
pids+=($!)
.venv/bin/celery -A config beat --loglevel=INFO --schedule .demo/celerybeat-schedule \
  > .demo/beat.log 2>&1 &
pids+=($!)
$PY manage.py runserver 127.0.0.1:8000 --noreload > .demo/web.log 2>&1 &
pids+=($!)

for _ in $(seq 1 60); do
  curl -fs http://127.0.0.1:8000/healthz >/dev/null 2>&1 && break
  sleep 0.5
done
cat <<BANNER

  TrainRight is running at http://127.0.0.1:8000
  API docs: http://127.0.0.1:8000/api/docs/    Health: http://127.0.0.1:8000/healthz

BANNER
$PY manage.py demo_seed | tail -n +2
echo "  admin         admin@trainright.demo        (Django admin at /admin/)"
echo
echo "  Logs are in .demo/. Press Ctrl-C to stop everything."
wait
