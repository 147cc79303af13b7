"""Operator console pages: server-rendered, they work before JavaScript loads.

Every form posts to a view that calls one service; a refused action comes back as a
message on the page it came from, with nothing changed.
"""

import json
import time
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_GET, require_POST

from backend.common.errors import ServiceError
from backend.common.parsers import id_or_none
from backend.incidents import services as incidents
from backend.incidents.models import Incident
from backend.incidents.selectors import access_incident

from . import selectors, services
from .api import export_response
from .forms import regions_as_geojson, regions_from_geojson
from .models import ActivationRequest, OfficialUpdate, PublicLogEntry, Triage

# An event stream ends after this long and the browser reconnects: a worker is never held
# for good, and a reconnect picks up a newly deployed server.
STREAM_SECONDS = 25
STREAM_TICK = 1.0

View = Callable[..., HttpResponseBase]

COUNTER_LABELS = [
    ("targeted", _lazy("Targeted")),
    ("delivered", _lazy("Delivered")),
    ("safe", _lazy("Safe")),
    ("need_help", _lazy("Need help")),
    ("not_in_area", _lazy("Not in the area")),
    ("no_answer", _lazy("No answer")),
]


def operator_required(view: View) -> View:
    """Send the anonymous to sign in; refuse people who are not operators."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("console:login"))
        if not request.user.is_operator:
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _attempt(request: HttpRequest, action: Callable[[], Any], success: str) -> bool:
    """Run ACTION; show SUCCESS, or the service's refusal, as a message."""
    try:
        action()
    except ServiceError as exc:
        messages.error(request, exc.message)
        return False
    messages.success(request, success)
    return True


def _incident_url(incident_id: int) -> str:
    return reverse("console:incident", args=[incident_id])


@require_GET
@operator_required
def incident_list(request: HttpRequest) -> HttpResponse:
    return render(request, "console/list.html", {"board": selectors.incidents_board()})


@operator_required
def incident_new(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"kinds": Incident.Kind.choices, "values": {}}
    if request.method == "POST":
        values = request.POST
        created: list[Incident] = []

        def create() -> None:
            created.append(
                incidents.incident_create(
                    creator=request.user,  # type: ignore[arg-type]
                    title=values.get("title", "")[:200],
                    description=values.get("description", "")[:5000],
                    kind=values.get("kind", Incident.Kind.OTHER),
                    drill=values.get("drill") == "on",
                    regions=regions_from_geojson(values.get("regions", "")),
                )
            )

        if not values.get("title", "").strip():
            messages.error(request, _("Give the incident a title."))
        elif _attempt(request, create, _("Draft created. Check the audience, then activate.")):
            return redirect(_incident_url(created[0].id))
        context["values"] = values
    return render(request, "console/new.html", {**context, **_map_context()})


@require_POST
@operator_required
def cap_upload(request: HttpRequest) -> HttpResponse:
    upload = request.FILES.get("cap")
    if upload is None:
        messages.error(request, _("Choose a CAP file to import."))
        return redirect("console:new")
    limit = settings.SAFE_CAP_MAX_BYTES
    xml = upload.read(limit + 1)
    results: list[services.CapResult] = []
    if _attempt(
        request,
        lambda: results.append(services.cap_import(actor=request.user, xml=xml)),  # type: ignore[arg-type]
        _("CAP alert imported."),
    ):
        for warning in results[0].warnings:
            messages.warning(request, warning)
        return redirect(_incident_url(results[0].incident.id))
    return redirect("console:new")


def _map_context() -> dict[str, Any]:
    return {"tile_url": settings.SAFE_TILE_URL}


@require_GET
@operator_required
def incident_detail(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = access_incident(viewer=request.user, incident_id=incident_id)  # type: ignore[arg-type]
    requests = list(selectors.activation_requests(incident_id=incident_id))
    pending = next((r for r in requests if r.status == ActivationRequest.Status.PENDING), None)
    context = {
        "incident": incident,
        "kinds": Incident.Kind.choices,
        "regions": list(incident.regions.all()),
        "regions_geojson": json.dumps(regions_as_geojson(incident.regions.all())),
        "declined": PublicLogEntry.objects.filter(
            incident=incident, action=PublicLogEntry.Action.DECLINED
        ).first(),
        "pending": pending,
        "activation": next(
            (r for r in requests if r.status == ActivationRequest.Status.APPROVED), None
        ),
        "two_operator_rule": services.two_operator_rule(),
        "updates": OfficialUpdate.objects.filter(incident=incident).select_related("author"),
        **_map_context(),
    }
    if incident.status == Incident.Status.DRAFT:
        context["preview"] = selectors.audience_preview(incident_id=incident_id)
        context["cells_url"] = f"/api/incidents/{incident_id}/cells/"
        context["edit_values"] = {
            "title": incident.title,
            "kind": incident.kind,
            "description": incident.description,
            "drill": incident.drill,
            "regions": context["regions_geojson"],
        }
    else:
        live = selectors.live_snapshot(incident_id=incident_id)
        context["live"] = live
        context["counters"] = [
            (name, label, live["counters"][name]) for name, label in COUNTER_LABELS
        ]
    return render(request, "console/detail.html", context)


@require_POST
@operator_required
def incident_edit(request: HttpRequest, incident_id: int) -> HttpResponse:
    values = request.POST

    def edit() -> None:
        regions = regions_from_geojson(values.get("regions", ""))
        incidents.incident_edit(
            actor=request.user,  # type: ignore[arg-type]
            incident_id=incident_id,
            title=values.get("title", "")[:200],
            description=values.get("description", "")[:5000],
            kind=values.get("kind"),
            drill=values.get("drill") == "on",
        )
        incidents.incident_set_regions(
            actor=request.user,  # type: ignore[arg-type]
            incident_id=incident_id,
            regions=regions,
        )

    _attempt(request, edit, _("Draft saved."))
    return redirect(_incident_url(incident_id))


@require_POST
@operator_required
def incident_activate(request: HttpRequest, incident_id: int) -> HttpResponse:
    made: list[ActivationRequest] = []
    done = _attempt(
        request,
        lambda: made.append(
            services.activation_request(
                actor=request.user,  # type: ignore[arg-type]
                incident_id=incident_id,
                reason=request.POST.get("reason", ""),
                confirm_title=request.POST.get("confirm_title", ""),
            )
        ),
        _("Activation requested."),
    )
    if done and made[0].status == ActivationRequest.Status.PENDING:
        messages.info(request, _("A second operator must now approve the activation."))
    return redirect(_incident_url(incident_id))


@require_POST
@operator_required
def activation_approve(request: HttpRequest, incident_id: int, request_id: int) -> HttpResponse:
    _attempt(
        request,
        lambda: services.activation_approve(actor=request.user, request_id=request_id),  # type: ignore[arg-type]
        _("Activation approved: people are being asked."),
    )
    return redirect(_incident_url(incident_id))


@require_POST
@operator_required
def activation_withdraw(request: HttpRequest, incident_id: int, request_id: int) -> HttpResponse:
    _attempt(
        request,
        lambda: services.activation_withdraw(actor=request.user, request_id=request_id),  # type: ignore[arg-type]
        _("Activation request withdrawn."),
    )
    return redirect(_incident_url(incident_id))


@require_POST
@operator_required
def incident_decline(request: HttpRequest, incident_id: int) -> HttpResponse:
    _attempt(
        request,
        lambda: services.incident_decline(
            actor=request.user,  # type: ignore[arg-type]
            incident_id=incident_id,
            reason=request.POST.get("reason", ""),
        ),
        _("Declined; the reason is in the public activation log."),
    )
    return redirect(_incident_url(incident_id))


@require_POST
@operator_required
def incident_resolve(request: HttpRequest, incident_id: int) -> HttpResponse:
    _attempt(
        request,
        lambda: services.incident_close(
            actor=request.user,  # type: ignore[arg-type]
            incident_id=incident_id,
            reason=request.POST.get("reason", ""),
        ),
        _("Incident resolved."),
    )
    return redirect(_incident_url(incident_id))


@require_POST
@operator_required
def update_post(request: HttpRequest, incident_id: int) -> HttpResponse:
    _attempt(
        request,
        lambda: services.update_post(
            actor=request.user,  # type: ignore[arg-type]
            incident_id=incident_id,
            text=request.POST.get("text", ""),
        ),
        _("Update posted and sent."),
    )
    return redirect(_incident_url(incident_id) + "#updates")


@require_GET
@operator_required
def triage(request: HttpRequest, incident_id: int) -> HttpResponse:
    incident = access_incident(viewer=request.user, incident_id=incident_id)  # type: ignore[arg-type]
    rows = selectors.triage_list(incident_id=incident_id)
    if not request.GET.get("fragment"):  # the page, not its live refresh every few seconds
        incidents.audit(
            actor=request.user,  # type: ignore[arg-type]
            action="read_triage",
            incident=incident,
            rows=len(rows),
        )
    context = {
        "incident": incident,
        "rows": rows,
        "operators": selectors.operators(),
        "statuses": Triage.Status.choices,
    }
    template = "console/_triage_rows.html" if request.GET.get("fragment") else "console/triage.html"
    return render(request, template, context)


@require_POST
@operator_required
def triage_update(request: HttpRequest, incident_id: int, checkin_id: int) -> HttpResponse:
    assignee = request.POST.get("assignee", "")
    _attempt(
        request,
        lambda: services.triage_set(
            actor=request.user,  # type: ignore[arg-type]
            incident_id=incident_id,
            checkin_id=checkin_id,
            status=request.POST.get("status") or None,
            assignee_id=id_or_none(assignee),
            unassign=assignee == "",
            comment=request.POST.get("comment"),
        ),
        _("Triage saved."),
    )
    return redirect(reverse("console:triage", args=[incident_id]))


@require_GET
@operator_required
def events(request: HttpRequest, incident_id: int) -> StreamingHttpResponse:
    """Server-Sent Events: the live snapshot whenever it changes, checked every second."""
    access_incident(viewer=request.user, incident_id=incident_id)  # type: ignore[arg-type]

    def stream() -> Iterator[str]:
        yield "retry: 1000\n\n"
        last = ""
        deadline = time.monotonic() + STREAM_SECONDS
        while time.monotonic() < deadline:
            snapshot = json.dumps(selectors.live_snapshot(incident_id=incident_id))
            if snapshot != last:
                last = snapshot
                yield f"data: {snapshot}\n\n"
            else:
                yield ": still here\n\n"
            time.sleep(STREAM_TICK)

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass events through as they come
    return response


@require_GET
@operator_required
def export_csv(request: HttpRequest, incident_id: int) -> StreamingHttpResponse:
    return export_response(actor=request.user, incident_id=incident_id)


@require_GET
@operator_required
def audit_log(request: HttpRequest) -> HttpResponse:
    incident = request.GET.get("incident", "")
    entries = selectors.audit_entries(incident_id=id_or_none(incident))
    return render(request, "console/audit.html", {"entries": entries})


@require_GET
def public_log(request: HttpRequest) -> HttpResponse:
    """The activation log anyone can read: what was activated, resolved or declined, and why."""
    return render(request, "console/public_log.html", {"entries": selectors.public_log()})
