from django.apps import AppConfig


class RoyaltiesConfig(AppConfig):
    name = "royalties"

    def ready(self) -> None:
        from marketplace.signals import agreement_activated
        from payments.charges import stripe_dispute_lost, stripe_refund_succeeded
        from royalties import bank_payouts, payment_events  # noqa: F401 (registers handlers)
        from royalties.receivers import post_upfront_fee_on_activation

        stripe_refund_succeeded.connect(
            payment_events.refund_succeeded, dispatch_uid="royalties_collection_refund"
        )
        stripe_dispute_lost.connect(
            payment_events.dispute_lost, dispatch_uid="royalties_collection_dispute_lost"
        )
        agreement_activated.connect(
            post_upfront_fee_on_activation, dispatch_uid="royalties.upfront_fee_on_activation"
        )
