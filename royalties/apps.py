from django.apps import AppConfig


class RoyaltiesConfig(AppConfig):
    """Holds only the migrations that created the money tables (``royalties_*``) before they
    were split into the ledger, usage, settlement, payouts and finance apps; those apps own the
    models now (``royalties/migrations/0008`` hands them over) and the tables keep their names."""

    name = "royalties"
