from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operator console: pages and operator-only API beyond the core incident API."""

    name = "backend.console"
    label = "console"
    verbose_name = "Operator console"
