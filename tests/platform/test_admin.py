"""The admin has a page for every model, and each list renders for a superuser."""

import pytest
from django.apps import apps
from django.contrib import admin

from backend.accounts.models import User

pytestmark = pytest.mark.django_db

OURS = {"accounts", "social", "incidents", "checkins", "notifications", "console"}


def test_every_model_of_ours_is_in_the_admin():
    missing = [
        model.__name__
        for model in apps.get_models()
        if model._meta.app_label in OURS and model not in admin.site._registry
    ]
    assert not missing


def test_every_admin_list_renders(client, incident):
    root = User.objects.create_superuser("root@example.org", "x" * 20, name="Root")
    client.force_login(root)
    for model in admin.site._registry:
        if model._meta.app_label in OURS:
            url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
            assert client.get(url).status_code == 200, url
