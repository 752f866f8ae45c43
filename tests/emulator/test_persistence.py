"""--state-file keeps a demo's state across restarts; the CLI starts a working server."""

import os
import subprocess
import sys
from pathlib import Path

from stripe_emulator.control import EmulatorControl
from stripe_emulator.server import EmulatorServer
from tests.emulator.conftest import make_client
from tests.emulator.helpers import balance, express_account, paid_charge

ROOT = Path(__file__).resolve().parents[2]


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")
    first = EmulatorServer(state_file=path).start()
    client, ctl = make_client(first.url), EmulatorControl(first.url)
    ctl.config(card_fee_bps=100, card_fee_fixed=0)
    account = express_account(client)
    paid_charge(client, ctl, 10000)
    customer = client.v1.customers.create(options={"idempotency_key": "keep"})
    first.stop()

    second = EmulatorServer(state_file=path).start()
    try:
        client = make_client(second.url)
        assert client.v1.accounts.retrieve(account.id).email == account.email
        assert sum(balance(client)) == 10000 - 100
        assert client.v1.customers.create(options={"idempotency_key": "keep"}).id == customer.id
        assert EmulatorControl(second.url).config()["card_fee_bps"] == 100
    finally:
        second.stop()


def test_cli_serves_the_api() -> None:
    env = {**os.environ, "STRIPE_EMULATOR_PORT": "0"}
    process = subprocess.Popen(
        [sys.executable, "-m", "stripe_emulator", "--host", "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[4]
        assert url.startswith("http://127.0.0.1:")
        assert make_client(url).v1.balance.retrieve().object == "balance"
    finally:
        process.terminate()
        process.wait(timeout=5)
