"""What marketplace services refuse, and why. The API turns these into problem details (409,
422, 403) and the web pages into messages; `errors` lists the works concerned when there are
some, `current` describes the offer as it now stands."""

from __future__ import annotations

from typing import Any

from core.errors import DomainError


class MarketplaceError(DomainError):
    code = "marketplace_error"

    def __init__(
        self,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        current: dict[str, Any] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.errors = errors
        self.current = current


class StaleVersion(MarketplaceError):
    """The answer names a version that is no longer the one awaiting an answer (409)."""

    code = "stale_version"


class OfferClosed(MarketplaceError):
    """The negotiation is over: accepted, rejected, withdrawn or expired (409)."""

    code = "offer_closed"


class NotYourTurn(MarketplaceError):
    """The caller made the latest proposal, so only the other party may answer it (403)."""

    code = "not_your_turn"


class NotAParty(MarketplaceError):
    """The caller acts for neither party, or for both (403)."""

    code = "not_a_party"


class WorksNotLicensable(MarketplaceError):
    """Some works cannot be licensed for these uses now, e.g. consent was withdrawn (422)."""

    code = "works_not_licensable"


class ExclusivityConflict(MarketplaceError):
    """An exclusive licence stands in the way, or this exclusive one would (409)."""

    code = "exclusivity_conflict"


class InvalidSelection(MarketplaceError):
    """The selection is empty, mixes catalogue owners, or names unknown works (422)."""

    code = "invalid_selection"


class CheckoutNotNeeded(MarketplaceError):
    """The agreement is not awaiting payment, or has no fee to pay (409)."""

    code = "checkout_not_needed"


class CheckoutUnavailable(MarketplaceError):
    """Stripe could not open a Checkout Session just now; trying again later may work (503)."""

    code = "checkout_unavailable"
