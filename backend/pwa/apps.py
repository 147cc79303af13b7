from django.apps import AppConfig


class PwaConfig(AppConfig):
    """Server-rendered pages of the PWA for people (home, friends, settings)."""

    name = "backend.pwa"
    label = "pwa"
    verbose_name = "PWA"
