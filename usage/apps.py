from django.apps import AppConfig


class UsageConfig(AppConfig):
    """Usage reports from licensees: ingestion, validation, versions."""

    name = "usage"
