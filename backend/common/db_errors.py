"""A database outage answers 503 with Retry-After, not a 500.

During a PostgreSQL restart or fail-over, requests fail with OperationalError or
InterfaceError. Nothing was stored, and trying again in a few seconds will work: saying so
(503 + Retry-After) lets the PWA's offline queue and other clients retry instead of
giving up, and keeps real bugs (500s) apart from outages in the logs.
"""

import logging
from collections.abc import Callable

from django.db import close_old_connections
from django.db.utils import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from .errors import error_body

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


def database_unavailable() -> JsonResponse:
    """The 503 answered while the database is unreachable."""
    response = JsonResponse(
        error_body("unavailable", "The service is briefly unavailable. Please try again."),
        status=503,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """Turn a view's database connection error into a retryable 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.warning("database unavailable on %s %s: %s", request.method, request.path, exception)
        # Drop the broken connection now so the next request opens a fresh one.
        close_old_connections()
        return database_unavailable()
