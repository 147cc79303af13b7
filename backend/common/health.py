"""GET /healthz: database, broker, worker and answers drainer, for load balancers and people."""

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from backend.config.celery import app


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _broker() -> str:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1)
    client.ping()
    return "ok"


def _workers() -> str:
    replies = app.control.ping(timeout=1.0)
    return f"ok ({len(replies)})" if replies else "no worker answered"


def _answers() -> str:
    # At a peak the drainer yields the CPU to the web: this is how far behind it is. Never
    # "degraded": without the stream the web records answers itself.
    from backend.checkins.answer_stream import backlog

    try:
        waiting = backlog()
    except redis.RedisError as exc:
        return f"ok (stream unreachable, the web records answers itself: {exc})"[:200]
    if waiting is None:
        return "ok (no drainer: the web records answers itself)"
    return f"ok ({waiting} answers waiting for the drainer)"


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {}
    parts = (
        ("database", _database),
        ("broker", _broker),
        ("workers", _workers),
        ("answers", _answers),
    )
    for name, check in parts:
        try:
            checks[name] = check()
        except Exception as exc:
            checks[name] = f"error: {type(exc).__name__}: {exc}"[:200]
    healthy = all(value.startswith("ok") for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503
    )
