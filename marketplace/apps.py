from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"

    def ready(self) -> None:
        # Registers the Checkout webhook handlers with payments.events.
        from marketplace import (
            checkout,  # noqa: F401
            tasks,  # noqa: F401 (registers the tasks services queue by name)
        )
