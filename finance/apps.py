from django.apps import AppConfig


class FinanceConfig(AppConfig):
    """Reconciliation with Stripe, period close, reports and exports, platform bank payouts."""

    name = "finance"

    def ready(self) -> None:
        from finance import (
            bank_payouts,  # noqa: F401 (registers its Stripe event handlers)
            tasks,  # noqa: F401 (registers the tasks services queue by name)
        )
        from finance.reconciliation import _on_stripe_event_failed, _on_stripe_event_recovered
        from payments.events import stripe_event_failed, stripe_event_recovered

        stripe_event_failed.connect(_on_stripe_event_failed, dispatch_uid="finance_posting")
        stripe_event_recovered.connect(_on_stripe_event_recovered, dispatch_uid="finance_posting")
