from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    """Collections from licensees, upfront fees, and payouts to holders."""

    name = "payouts"

    def ready(self) -> None:
        from marketplace.signals import agreement_activated
        from payments.charges import stripe_dispute_lost, stripe_refund_succeeded
        from payouts import (
            payment_events,
            receivers,
            tasks,  # noqa: F401 (registers the tasks services queue by name)
        )
        from settlement.signals import settlement_run_completed

        stripe_refund_succeeded.connect(
            payment_events.refund_succeeded, dispatch_uid="royalties_collection_refund"
        )
        stripe_dispute_lost.connect(
            payment_events.dispute_lost, dispatch_uid="royalties_collection_dispute_lost"
        )
        agreement_activated.connect(
            receivers.post_upfront_fee_on_activation,
            dispatch_uid="royalties.upfront_fee_on_activation",
        )
        settlement_run_completed.connect(
            receivers.collections_open_on_run_completed, dispatch_uid="payouts.collections_open"
        )
