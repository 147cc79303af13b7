"""The one-tap page: GET shows three buttons, only POST records.

Link scanners and mail previews fetch links; answering on GET would answer for people.
The signed token in the URL is the credential, so the POST needs no CSRF cookie (which a
locked-down or freshly opened browser may not have).
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from backend.common.errors import ServiceError
from backend.common.ratelimit import rate_limited

from . import selectors, services
from .models import Answer


@csrf_exempt
@require_http_methods(["GET", "POST"])
@rate_limited("one_tap")
def one_tap(request: HttpRequest, token: str) -> HttpResponse:
    try:
        checkin = selectors.checkin_for_token(token=token)
    except ServiceError as exc:
        return render(
            request, "checkins/one_tap_invalid.html", {"message": exc.message}, status=404
        )
    translation.activate(checkin.person.language)
    context = {"checkin": checkin, "answers": Answer.choices, "token": token}
    if request.method == "GET":
        return render(request, "checkins/one_tap.html", context)
    try:
        checkin = services.checkin_answer(
            checkin=checkin,
            status=request.POST.get("status", ""),
            note=request.POST.get("note", "")[:1000],
            via="link",
        )
    except ServiceError as exc:
        context["error"] = exc.message
        return render(request, "checkins/one_tap.html", context, status=exc.status_code)
    context["checkin"] = checkin
    context["recorded"] = True
    return render(request, "checkins/one_tap.html", context)
