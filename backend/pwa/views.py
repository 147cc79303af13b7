"""Pages of the PWA. Each works as a plain HTML form first; app.js only enhances it.

Views stay thin: validate a form, call one service or selector, render or redirect.
"""

import hashlib
import json
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backend.accounts.models import User
from backend.accounts.services import person_signup, place_add, place_delete
from backend.checkins.models import Answer, CheckIn
from backend.checkins.selectors import access_own_checkin, checkins_of, friends_checkins
from backend.checkins.services import checkin_respond
from backend.checkins.tokens import checkin_token
from backend.common.errors import ServiceError, error_body
from backend.common.ratelimit import rate_limited
from backend.incidents.models import Incident
from backend.incidents.selectors import access_incident
from backend.social.selectors import (
    friend_requests_incoming,
    friend_requests_outgoing,
    friends_of,
)
from backend.social.services import (
    friend_request_accept,
    friend_request_create,
    friend_request_decline,
    friendship_remove,
)

from . import services
from .forms import (
    AnswerForm,
    DeleteAccountForm,
    InviteForm,
    MagicLinkForm,
    PlaceForm,
    PreferencesForm,
    SigninForm,
    SignupForm,
)
from .words import client_words

View = Callable[..., HttpResponse]


def _person(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def person_page(view: View) -> View:
    """Require a signed-in person and speak their language on the page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect(f"{reverse('pwa:signin')}?next={request.get_full_path()}")
        translation.activate(_person(request).language)
        request.LANGUAGE_CODE = _person(request).language
        return view(request, *args, **kwargs)

    return wrapper


def _next_url(request: HttpRequest, default: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    safe = url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return candidate if safe and candidate.startswith("/") else default


def _sign_in(request: HttpRequest, person: User, *, then: str = "pwa:home") -> HttpResponse:
    login(request, person, backend="django.contrib.auth.backends.ModelBackend")
    response = redirect(_next_url(request, reverse(then)))
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, person.language, samesite="Lax")
    return response


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


_CSRF_INPUT = re.compile(r'<input type="hidden" name="csrfmiddlewaretoken" value="[^"]*">')


def _live(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """A fragment for polling: 304 when the client's copy (ETag) is still current."""
    body = render_to_string(template, context, request=request)
    # The CSRF token is masked afresh on every render; it must not make the ETag change.
    stable = _CSRF_INPUT.sub("", body)
    etag = '"' + hashlib.sha256(stable.encode()).hexdigest()[:32] + '"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body)
    response["ETag"] = etag
    response["Cache-Control"] = "no-cache, private"
    return response


# --- Signing up and in ------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@rate_limited("signup")
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            person = person_signup(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                name=form.cleaned_data["name"],
                language=translation.get_language() or "en",
            )
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            return _sign_in(request, person, then="pwa:welcome")
    return render(request, "pwa/signup.html", {"form": form, "next": _next_url(request, "")})


@require_http_methods(["GET", "POST"])
@rate_limited("signin")
def signin(request: HttpRequest) -> HttpResponse:
    form = SigninForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        person = authenticate(
            request,
            email=User.objects.normalize_email(form.cleaned_data["email"]),
            password=form.cleaned_data["password"],
        )
        if person is not None:
            return _sign_in(request, person)
        form.add_error(None, _("This email and password do not match an account."))
    context = {
        "form": form,
        "magic_form": MagicLinkForm(prefix="magic"),
        "next": _next_url(request, ""),
    }
    return render(request, "pwa/signin.html", context)


@require_POST
@rate_limited("magic_link")
def magic_link_request(request: HttpRequest) -> HttpResponse:
    form = MagicLinkForm(request.POST, prefix="magic")
    if not form.is_valid():
        context = {"form": SigninForm(), "magic_form": form, "next": ""}
        return render(request, "pwa/signin.html", context, status=400)
    services.magic_link_send(email=form.cleaned_data["email"])
    return render(request, "pwa/magic_sent.html", {"email": form.cleaned_data["email"]})


@require_http_methods(["GET", "POST"])
def magic_link_open(request: HttpRequest, token: str) -> HttpResponse:
    """GET only shows a button: mail scanners open links and must not use them up."""
    try:
        person = services.magic_link_person(token=token)
    except ServiceError as exc:
        return render(request, "pwa/magic_invalid.html", {"message": exc.message}, status=404)
    if request.method == "GET":
        return render(request, "pwa/magic_confirm.html", {"person": person})
    return _sign_in(request, person)


@require_POST
def signout(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("pwa:signin")


# --- Home, answering, incidents --------------------------------------------------------


def _active_checkins(person: User) -> list[CheckIn]:
    checkins = list(checkins_of(person=person).filter(incident__status=Incident.Status.ACTIVE))
    for checkin in checkins:
        checkin.token = checkin_token(checkin.id, checkin.incident_id)  # type: ignore[attr-defined]
    return checkins


def _home_context(person: User) -> dict[str, Any]:
    return {"checkins": _active_checkins(person), "answers": Answer.choices}


@never_cache
@person_page
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    person = _person(request)
    context = _home_context(person)
    context["has_places"] = person.places.exists()
    context["requests"] = friend_requests_incoming(person=person).count()
    return render(request, "pwa/home.html", context)


@person_page
@require_GET
def home_live(request: HttpRequest) -> HttpResponse:
    return _live(request, "pwa/_checkins.html", _home_context(_person(request)))


@person_page
@require_POST
def answer(request: HttpRequest, checkin_id: int) -> HttpResponse:
    """Record my answer; JSON for app.js, a redirect for a plain form."""
    form = AnswerForm(request.POST)
    try:
        checkin = access_own_checkin(person=_person(request), checkin_id=checkin_id)
        if not form.is_valid():
            raise ServiceError(_("Choose one of the three answers."), fields=form.errors)
        checkin = checkin_respond(
            checkin_id=checkin.id,
            status=form.cleaned_data["status"],
            note=form.cleaned_data["note"],
            via="pwa",
        )
    except ServiceError as exc:
        if _wants_json(request):
            return JsonResponse(error_body(exc.code, exc.message), status=exc.status_code)
        messages.error(request, exc.message)
        return redirect(_next_url(request, reverse("pwa:home")))
    if _wants_json(request):
        return JsonResponse({"id": checkin.id, "status": checkin.status})
    messages.success(request, _("Your answer is recorded. Your friends can see it."))
    return redirect(_next_url(request, reverse("pwa:home")))


def _friends_context(person: User, incident_id: int) -> dict[str, Any]:
    """What the friends' part of an incident page shows (also polled live)."""
    incident = access_incident(viewer=person, incident_id=incident_id)
    return {
        "incident": incident,
        "friends": friends_checkins(viewer=person, incident_id=incident.id),
    }


@never_cache
@person_page
@require_GET
def incident(request: HttpRequest, incident_id: int) -> HttpResponse:
    person = _person(request)
    try:
        context = _friends_context(person, incident_id)
    except ServiceError as exc:
        return render(request, "pwa/not_found.html", {"message": exc.message}, status=404)
    context["mine"] = CheckIn.objects.filter(incident=context["incident"], person=person).first()
    context["updates"] = context["incident"].updates.all()  # the console's, newest first
    if context["mine"] is not None:
        context["mine"].token = checkin_token(context["mine"].id, context["mine"].incident_id)
    context["answers"] = Answer.choices
    return render(request, "pwa/incident.html", context)


@person_page
@require_GET
def incident_live(request: HttpRequest, incident_id: int) -> HttpResponse:
    try:
        context = _friends_context(_person(request), incident_id)
    except ServiceError as exc:
        return JsonResponse(error_body(exc.code, exc.message), status=exc.status_code)
    return _live(request, "pwa/_friends_status.html", context)


# --- Places ----------------------------------------------------------------------------


@never_cache
@person_page
@require_http_methods(["GET", "POST"])
def welcome(request: HttpRequest) -> HttpResponse:
    """Onboarding: a place first; notifications and a phone are offered after."""
    form = PlaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            place_add(person=_person(request), **form.cleaned_data)
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Place saved. Only the area around it is kept."))
            return redirect(_next_url(request, reverse("pwa:welcome")))
    context = {"form": form, "places": _person(request).places.all()}
    return render(request, "pwa/welcome.html", context, status=400 if form.errors else 200)


@person_page
@require_POST
def place_remove(request: HttpRequest, place_id: int) -> HttpResponse:
    try:
        place_delete(person=_person(request), place_id=place_id)
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect(_next_url(request, reverse("pwa:settings")))


# --- Friends ---------------------------------------------------------------------------


def _invite_url(request: HttpRequest, person: User) -> str:
    token = services.invite_token(person=person)
    return request.build_absolute_uri(reverse("pwa:invite", args=[token]))


@never_cache
@person_page
@require_http_methods(["GET", "POST"])
def friends(request: HttpRequest) -> HttpResponse:
    person = _person(request)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            friend_request_create(sender=person, email=form.cleaned_data["email"])
        except ServiceError as exc:
            form.add_error("email", exc.message)
        else:
            messages.success(request, _("Request sent. They will see it when they sign in."))
            return redirect("pwa:friends")
    invite_url = _invite_url(request, person)
    qr = segno.make(invite_url, error="m").svg_inline(
        scale=4, title=_("QR code of your invitation link"), svgclass="qr"
    )
    context = {
        "form": form,
        "friends": friends_of(person=person),
        "incoming": friend_requests_incoming(person=person),
        "outgoing": friend_requests_outgoing(person=person),
        "invite_url": invite_url,
        "qr": mark_safe(qr),  # noqa: S308 - generated by segno from our own URL
    }
    return render(request, "pwa/friends.html", context, status=400 if form.errors else 200)


@person_page
@require_POST
def friend_request_answer(request: HttpRequest, request_id: int, verdict: str) -> HttpResponse:
    act = friend_request_accept if verdict == "accept" else friend_request_decline
    try:
        act(person=_person(request), request_id=request_id)
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("pwa:friends")


@person_page
@require_POST
def friend_remove(request: HttpRequest, friend_id: int) -> HttpResponse:
    try:
        friendship_remove(person=_person(request), friend_id=friend_id)
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("pwa:friends")


@require_http_methods(["GET", "POST"])
def invite(request: HttpRequest, token: str) -> HttpResponse:
    """An invite link: anyone may see who sent it; only a signed-in person can accept."""
    try:
        sender = services.invite_sender(token=token)
    except ServiceError as exc:
        return render(request, "pwa/not_found.html", {"message": exc.message}, status=404)
    if request.method == "POST" and request.user.is_authenticated:
        try:
            services.invite_accept(person=_person(request), token=token)
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, _("You are now friends with %(name)s.") % {"name": sender.name}
            )
        return redirect("pwa:friends")
    return render(request, "pwa/invite.html", {"sender": sender, "next": request.path})


# --- Settings --------------------------------------------------------------------------


@never_cache
@person_page
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    person = _person(request)
    order = [*person.channel_order, "", ""]
    form = PreferencesForm(
        request.POST or None,
        initial={
            "language": person.language,
            "first": order[0],
            "second": order[1],
            "third": order[2],
            "friend_alerts": person.friend_alerts,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.preferences_update(
                person=person,
                channel_order=form.channel_order(),
                friend_alerts=form.cleaned_data["friend_alerts"],
                language=form.cleaned_data["language"],
            )
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            translation.activate(person.language)
            messages.success(request, _("Settings saved."))
            response = redirect("pwa:settings")
            response.set_cookie(settings.LANGUAGE_COOKIE_NAME, person.language, samesite="Lax")
            return response
    context = {
        "form": form,
        "places": person.places.all(),
        "place_form": PlaceForm(),
    }
    return render(request, "pwa/settings.html", context, status=400 if form.errors else 200)


@person_page
@require_GET
def export(request: HttpRequest) -> HttpResponse:
    data = services.person_export(person=_person(request))
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = 'attachment; filename="safe-and-sound-my-data.json"'
    return response


@person_page
@require_http_methods(["GET", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    form = DeleteAccountForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.person_delete(person=_person(request))
        except ServiceError as exc:
            form.add_error(None, exc.message)
        else:
            logout(request)
            return render(request, "pwa/deleted.html")
    return render(request, "pwa/delete.html", {"form": form}, status=400 if form.errors else 200)


# --- The installable app: manifest, service worker, offline page -------------------------


@require_GET
def manifest(request: HttpRequest) -> HttpResponse:
    icons = [
        {"src": static("pwa/icon-192.png"), "sizes": "192x192", "type": "image/png"},
        {"src": static("pwa/icon-512.png"), "sizes": "512x512", "type": "image/png"},
        {
            "src": static("pwa/icon-maskable-512.png"),
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        },
    ]
    data = {
        "name": "Safe & Sound",
        "short_name": "Safe & Sound",
        "description": _("Tell your friends you are safe, in one tap."),
        "id": "/",
        "start_url": "/?source=pwa",
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0a6b2d",
        "lang": translation.get_language(),
        "dir": "rtl" if translation.get_language_bidi() else "ltr",
        "icons": icons,
    }
    return JsonResponse(data, content_type="application/manifest+json")


SHELL_STATIC = ("css/app.css", "pwa/queue.js", "pwa/app.js", "pwa/icon-192.png")


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, from the root so its scope is the whole site; never cached."""
    precache = [
        reverse("pwa:offline"),
        reverse("pwa:manifest"),
        *(reverse("pwa:strings", args=[code]) for code, _name in settings.LANGUAGES),
        *(static(path) for path in SHELL_STATIC),
    ]
    version = hashlib.sha256(json.dumps(precache).encode()).hexdigest()[:12]
    body = render_to_string(
        "pwa/sw.js",
        {
            "precache": json.dumps(precache),
            "version": json.dumps(version),
            "queue_url": json.dumps(static("pwa/queue.js")),
        },
    )
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["Service-Worker-Allowed"] = "/"
    return response


@require_GET
def strings(request: HttpRequest, language: str) -> HttpResponse:
    """The few words the service worker says itself (notification actions, confirmations)."""
    if language not in dict(settings.LANGUAGES):
        return JsonResponse(error_body("not_found", "No such language."), status=404)
    with translation.override(language):
        data = client_words()
    return JsonResponse(data)


@require_GET
def offline(request: HttpRequest) -> HttpResponse:
    return render(request, "pwa/offline.html")
