from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The bottom layer every app may import: the platform clock and the money core."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from core import clock

        clock.connect_refresh_signals()
