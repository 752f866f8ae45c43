from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments (Stripe)"

    def ready(self) -> None:
        # Registers payments' own Stripe event handlers (connected accounts, charges).
        from payments import (  # noqa: F401
            charges,
            connect,
            tasks,
        )
