"""The product's calls to the local Stripe emulator's control API (development, the demo and
the tests): moving its clock with the sandbox clock, and pointing its webhooks at us.

The only payments module that imports `stripe_emulator` (`make lint` holds the product to
that, apart from the demo seeding and the payouts bench, which drive the emulator directly).
The emulator is imported only when it is in use, so a deployment against Stripe itself
(`settings.STRIPE_API_BASE` empty) never imports it.
"""

from __future__ import annotations

import structlog
from django.conf import settings

log = structlog.get_logger(__name__)


class EmulatorError(Exception):
    """The emulator's control API refused the request or could not be reached."""


def sandbox_clock_sync(*, to_unix: int) -> bool:
    """Move the Stripe emulator's clock with the platform's sandbox clock (pending funds
    become available, payouts arrive); True if it moved. Against Stripe itself (no emulator
    base) nothing happens: Stripe's time is Stripe's."""
    if not settings.STRIPE_API_BASE:
        return False
    from stripe_emulator.control import ControlError, EmulatorControl

    try:
        EmulatorControl(settings.STRIPE_API_BASE).advance_clock(to_unix)
    except (ControlError, OSError) as error:
        log.warning("sandbox_clock_emulator_not_moved", reason=str(error))
        return False
    return True


def webhook_endpoint_add(*, url: str, secret: str) -> None:
    """Have the emulator POST every event, the platform's and connected accounts', to `url`,
    signed with `secret`. Raises EmulatorError."""
    from stripe_emulator.control import ControlError, EmulatorControl

    try:
        EmulatorControl(settings.STRIPE_API_BASE).add_webhook_endpoint(
            url, secret=secret, connect=None
        )
    except (ControlError, OSError) as exc:
        raise EmulatorError(str(exc)) from exc
