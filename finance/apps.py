from django.apps import AppConfig


class FinanceConfig(AppConfig):
    """Reconciliation with Stripe, period close, reports and exports, platform bank payouts."""

    name = "finance"

    def ready(self) -> None:
        from finance import (
            bank_payouts,  # noqa: F401 (registers its Stripe event handlers)
            tasks,  # noqa: F401 (registers the tasks services queue by name)
        )
