from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate

OPERATORS_GROUP = "Operators"


def ensure_operators_group(**kwargs: Any) -> None:
    """Keep an "Operators" group holding the permission to run incidents."""
    from django.contrib.auth.models import Group, Permission

    permission = Permission.objects.filter(
        codename="operate_incident", content_type__app_label="incidents"
    ).first()
    if permission is None:  # permissions are created by an earlier post_migrate handler
        return
    group, _ = Group.objects.get_or_create(name=OPERATORS_GROUP)
    group.permissions.add(permission)


class IncidentsConfig(AppConfig):
    name = "backend.incidents"
    label = "incidents"
    verbose_name = "Incidents"

    def ready(self) -> None:
        post_migrate.connect(ensure_operators_group, sender=self)
