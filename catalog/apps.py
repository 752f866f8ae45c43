from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"

    def ready(self) -> None:
        from catalog import tasks  # noqa: F401 (registers the tasks services queue by name)
