from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and organisations"

    def ready(self) -> None:
        # Registers accounts' own Stripe event handlers (connected accounts, payments).
        from accounts import stripe_connect, stripe_payments  # noqa: F401
        from accounts.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
