from django.apps import AppConfig


class SettlementConfig(AppConfig):
    """Monthly settlement runs: rating, allocation to holders, statements."""

    name = "settlement"

    def ready(self) -> None:
        from settlement import tasks  # noqa: F401 (registers the tasks services queue by name)
