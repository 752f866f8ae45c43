"""The emulator's clock, moved forward with the platform's sandbox clock like a Stripe test
clock: objects are stamped with its time, pending funds become available when it passes
their `available_on`, payouts arrive on their `arrival_date`, and it never goes back."""

import pytest
import stripe

from stripe_emulator.control import ControlError, EmulatorControl
from tests.emulator.helpers import balance, paid_charge

DAY = 86400


def test_moving_the_clock_releases_pending_funds_and_payouts_on_their_dates(
    client: stripe.StripeClient, ctl: EmulatorControl
) -> None:
    ctl.config(available_delay_seconds=2 * DAY)
    start = ctl.clock()["now"]
    charge = paid_charge(client, ctl, 10000)
    assert balance(client) == (0, 10000 - 320)  # pending for two days

    ctl.advance_clock(start + DAY)
    assert balance(client) == (0, 9680)  # not yet
    moved = ctl.advance_clock(start + 2 * DAY + 1)
    assert moved["offset_seconds"] >= 2 * DAY
    assert balance(client) == (9680, 0)

    payout = client.v1.payouts.create(params={"amount": 5000, "currency": "usd"})
    assert payout.created >= start + 2 * DAY  # stamped with the emulator's time
    assert payout.arrival_date == payout.created + DAY
    assert ctl.advance_clock(payout.arrival_date - 1)["payouts_arrived"] == 0
    assert client.v1.payouts.retrieve(payout.id).status == "pending"
    assert ctl.advance_clock(payout.arrival_date)["payouts_arrived"] == 1
    assert client.v1.payouts.retrieve(payout.id).status == "paid"
    assert charge.created < payout.created


def test_the_clock_never_goes_back_and_rejects_a_non_integer_time(ctl: EmulatorControl) -> None:
    ahead = ctl.clock()["now"] + 10 * DAY
    ctl.advance_clock(ahead)
    offset = ctl.clock()["offset_seconds"]
    ctl.advance_clock(ahead - 5 * DAY)
    assert ctl.clock()["offset_seconds"] == offset  # a time in its past changes nothing
    with pytest.raises(ControlError) as error:
        ctl.call("POST", "clock/advance", {"advance_to": "tomorrow"})
    assert error.value.status == 400
    ctl.reset()
    assert ctl.clock()["offset_seconds"] == 0  # a reset emulator starts on the wall clock
