"""Error pages: API paths get the API's one error shape, pages get Django's templates."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from .errors import error_body


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("not_found", "No such API path."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        message = "Something went wrong on our side; nothing was changed. Please retry."
        return JsonResponse(error_body("server_error", message), status=500)
    return defaults.server_error(request)
