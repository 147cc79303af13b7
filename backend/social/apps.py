from django.apps import AppConfig


class SocialConfig(AppConfig):
    name = "backend.social"
    label = "social"
    verbose_name = "Friends"
