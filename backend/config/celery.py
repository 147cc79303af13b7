"""The Celery application: settings come from Django's (CELERY_* names)."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from backend.common.gc_tuning import tune_for_serving

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")

app = Celery("safe_and_sound")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _tune_gc(**kwargs: Any) -> None:
    tune_for_serving()  # in each pool process, once forked
