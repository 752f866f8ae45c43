from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """The sandbox clock's orchestration: above every domain app, since moving time runs the
    jobs of all of them (settlement, collections, payouts, reconciliation)."""

    name = "sandbox"
    verbose_name = "Sandbox clock"
