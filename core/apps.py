from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The bottom layer every app may import: the platform clock and the money core."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core import checks, clock  # noqa: F401 (checks registers the production checks)

        clock.connect_refresh_signals()
