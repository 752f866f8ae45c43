from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"

    def ready(self) -> None:
        # Registers the Checkout webhook handlers with accounts.stripe_events.
        from marketplace import checkout  # noqa: F401
