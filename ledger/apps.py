from django.apps import AppConfig


class LedgerConfig(AppConfig):
    """The double-entry ledger: accounts, journal entries and legs, accounting periods."""

    name = "ledger"
