"""Operator API beyond the core incident endpoints: CAP import, preview, activation with
approval, declines, resolution with a reason, updates, triage, live snapshot, export, audit."""

import csv
from collections.abc import Iterable, Iterator
from typing import Any, cast

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import parsers, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts.models import User
from backend.common.api import ERROR, IsOperator, validated
from backend.common.errors import NotFound
from backend.incidents import selectors as incident_selectors
from backend.incidents.api import IncidentSerializer
from backend.incidents.models import AuditEntry
from backend.incidents.services import audit as incidents_audit

from . import selectors, services
from .models import ActivationRequest, OfficialUpdate, PublicLogEntry, Triage


class CapXmlParser(parsers.BaseParser):
    """Hand the raw XML body to the CAP parser, which does the safe parsing itself."""

    media_type = "application/xml"

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        return stream.read() if stream is not None else b""


class CapTextXmlParser(CapXmlParser):
    media_type = "text/xml"


class OperatorView(APIView):
    permission_classes = [IsOperator]

    @property
    def operator(self) -> User:
        # IsOperator has let only signed-in operators this far.
        return cast(User, self.request.user)

    def incident(self, request: Request, incident_id: int) -> Any:
        return incident_selectors.access_incident(viewer=self.operator, incident_id=incident_id)

    def activation_request(self, request: Request, incident_id: int, request_id: int) -> None:
        """404 unless REQUEST_ID is an activation request of this (visible) incident."""
        self.incident(request, incident_id)
        requests = selectors.activation_requests(incident_id=incident_id)
        if not requests.filter(id=request_id).exists():
            raise NotFound("No such activation request.")


class CapResultSerializer(serializers.Serializer):
    action = serializers.CharField()
    warnings = serializers.ListField(child=serializers.CharField())
    incident = IncidentSerializer()


class FromCapView(OperatorView):
    parser_classes = [CapXmlParser, CapTextXmlParser]

    @extend_schema(
        request={"application/xml": OpenApiTypes.STR, "text/xml": OpenApiTypes.STR},
        responses={200: CapResultSerializer, 201: CapResultSerializer, 400: ERROR, 409: ERROR},
        description="Import a CAP 1.2 alert. Alert → a new draft (201); Update → changes that "
        "draft, or posts an official update if it is active; Cancel → resolves it, or declines "
        "the draft. Test / Exercise → drill. Never activates anything.",
    )
    def post(self, request: Request) -> Response:
        result = services.cap_import(actor=self.operator, xml=cast(bytes, request.data or b""))
        body = {
            "action": result.action,
            "warnings": result.warnings,
            "incident": IncidentSerializer(result.incident).data,
        }
        code = status.HTTP_201_CREATED if result.action == "created" else status.HTTP_200_OK
        return Response(body, status=code)


class RegionPreviewSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    summary = serializers.CharField()
    people = serializers.IntegerField()


class PreviewSerializer(serializers.Serializer):
    regions = RegionPreviewSerializer(many=True)
    total = serializers.IntegerField()
    push = serializers.IntegerField()
    sms = serializers.IntegerField()
    email = serializers.IntegerField()


class PreviewView(OperatorView):
    @extend_schema(responses={200: PreviewSerializer, 403: ERROR, 404: ERROR})
    def get(self, request: Request, incident_id: int) -> Response:
        self.incident(request, incident_id)
        return Response(selectors.audience_preview(incident_id=incident_id))


class CellsView(OperatorView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, 403: ERROR, 404: ERROR},
        description="The compacted H3 cells covering the regions, as a GeoJSON "
        "FeatureCollection (bounded; `truncated` says when more exist).",
    )
    def get(self, request: Request, incident_id: int) -> Response:
        self.incident(request, incident_id)
        return Response(selectors.covered_cells(incident_id=incident_id))


class ActivationInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)
    confirm_title = serializers.CharField(max_length=200)


class ActivationRequestSerializer(serializers.ModelSerializer):
    class Meta:
        model = ActivationRequest
        fields = [
            "id",
            "incident",
            "requested_by",
            "reason",
            "audience",
            "status",
            "created_at",
            "decided_by",
            "decided_at",
        ]


class ActivationView(OperatorView):
    @extend_schema(responses={200: ActivationRequestSerializer(many=True), 404: ERROR})
    def get(self, request: Request, incident_id: int) -> Response:
        self.incident(request, incident_id)
        requests = selectors.activation_requests(incident_id=incident_id)
        return Response(ActivationRequestSerializer(requests, many=True).data)

    @extend_schema(
        request=ActivationInputSerializer,
        responses={
            201: ActivationRequestSerializer,
            400: ERROR,
            403: ERROR,
            404: ERROR,
            409: ERROR,
        },
        description="Ask to activate a draft, retyping its title. The reason is published in "
        "the activation log. With the two-operator rule the request stays `pending` until a "
        "different operator approves it; otherwise it is `approved` and the fan-out starts.",
    )
    def post(self, request: Request, incident_id: int) -> Response:
        self.incident(request, incident_id)
        data = validated(ActivationInputSerializer, request.data)
        activation = services.activation_request(
            actor=self.operator, incident_id=incident_id, **data
        )
        return Response(
            ActivationRequestSerializer(activation).data, status=status.HTTP_201_CREATED
        )


class ApproveView(OperatorView):
    @extend_schema(
        request=None,
        responses={200: ActivationRequestSerializer, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request: Request, incident_id: int, request_id: int) -> Response:
        self.incident(request, incident_id)
        if (
            not selectors.activation_requests(incident_id=incident_id)
            .filter(id=request_id)
            .exists()
        ):
            raise NotFound("No such activation request.")
        approved = services.activation_approve(actor=self.operator, request_id=request_id)
        return Response(ActivationRequestSerializer(approved).data)


class WithdrawView(OperatorView):
    @extend_schema(
        request=None,
        responses={200: ActivationRequestSerializer, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request: Request, incident_id: int, request_id: int) -> Response:
        self.incident(request, incident_id)
        if (
            not selectors.activation_requests(incident_id=incident_id)
            .filter(id=request_id)
            .exists()
        ):
            raise NotFound("No such activation request.")
        withdrawn = services.activation_withdraw(actor=self.operator, request_id=request_id)
        return Response(ActivationRequestSerializer(withdrawn).data)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class PublicLogEntrySerializer(serializers.ModelSerializer):
    title = serializers.CharField(source="incident.title")
    kind = serializers.CharField(source="incident.kind")
    drill = serializers.BooleanField(source="incident.drill")
    regions = serializers.SerializerMethodField()

    class Meta:
        model = PublicLogEntry
        fields = [
            "incident",
            "title",
            "kind",
            "drill",
            "action",
            "reason",
            "audience",
            "at",
            "regions",
        ]

    def get_regions(self, entry: PublicLogEntry) -> list[str]:
        return [region.summary for region in entry.incident.regions.all()]


class DeclineView(OperatorView):
    @extend_schema(
        request=ReasonSerializer,
        responses={201: PublicLogEntrySerializer, 400: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request: Request, incident_id: int) -> Response:
        self.incident(request, incident_id)
        entry = services.incident_decline(
            actor=self.operator,
            incident_id=incident_id,
            **validated(ReasonSerializer, request.data),
        )
        return Response(PublicLogEntrySerializer(entry).data, status=status.HTTP_201_CREATED)


class ResolutionView(OperatorView):
    @extend_schema(
        request=ReasonSerializer,
        responses={200: IncidentSerializer, 400: ERROR, 404: ERROR, 409: ERROR},
        description="Resolve an active incident with a reason published in the activation log.",
    )
    def post(self, request: Request, incident_id: int) -> Response:
        self.incident(request, incident_id)
        incident = services.incident_close(
            actor=self.operator,
            incident_id=incident_id,
            **validated(ReasonSerializer, request.data),
        )
        return Response(IncidentSerializer(incident).data)


class UpdateInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=500)


class OfficialUpdateSerializer(serializers.ModelSerializer):
    author_name = serializers.CharField(source="author.name")

    class Meta:
        model = OfficialUpdate
        fields = ["id", "incident", "text", "author", "author_name", "created_at"]


class UpdatesView(OperatorView):
    @extend_schema(responses={200: OfficialUpdateSerializer(many=True), 404: ERROR})
    def get(self, request: Request, incident_id: int) -> Response:
        self.incident(request, incident_id)
        updates = OfficialUpdate.objects.filter(incident_id=incident_id).select_related("author")
        return Response(OfficialUpdateSerializer(updates, many=True).data)

    @extend_schema(
        request=UpdateInputSerializer,
        responses={201: OfficialUpdateSerializer, 400: ERROR, 404: ERROR, 409: ERROR, 429: ERROR},
        description="Post an official update; it is sent to every affected person. "
        "At most one per incident per minute (429).",
    )
    def post(self, request: Request, incident_id: int) -> Response:
        self.incident(request, incident_id)
        update = services.update_post(
            actor=self.operator,
            incident_id=incident_id,
            **validated(UpdateInputSerializer, request.data),
        )
        return Response(OfficialUpdateSerializer(update).data, status=status.HTTP_201_CREATED)


class TriageRowSerializer(serializers.Serializer):
    checkin_id = serializers.IntegerField()
    name = serializers.CharField()
    note = serializers.CharField()
    answered_at = serializers.DateTimeField()
    area = serializers.CharField()
    coarse_cell = serializers.CharField()
    status = serializers.ChoiceField(choices=Triage.Status.choices)
    assignee_id = serializers.IntegerField(allow_null=True)
    assignee_name = serializers.CharField()
    comment = serializers.CharField()


class TriageInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Triage.Status.choices, required=False)
    assignee = serializers.IntegerField(required=False, allow_null=True)
    comment = serializers.CharField(max_length=1000, required=False, allow_blank=True)


class TriageView(OperatorView):
    @extend_schema(responses={200: TriageRowSerializer(many=True), 404: ERROR})
    def get(self, request: Request, incident_id: int) -> Response:
        incident = self.incident(request, incident_id)
        rows = selectors.triage_list(incident_id=incident_id)
        # People's names, notes and areas: every operator read of them is on the record.
        incidents_audit(
            actor=self.operator, action="read_triage", incident=incident, rows=len(rows)
        )
        return Response(TriageRowSerializer(rows, many=True).data)


class TriageDetailView(OperatorView):
    @extend_schema(
        request=TriageInputSerializer,
        responses={200: TriageRowSerializer, 400: ERROR, 404: ERROR},
        description="Change status, assignee (an operator's id, or null to unassign) or comment.",
    )
    def patch(self, request: Request, incident_id: int, checkin_id: int) -> Response:
        self.incident(request, incident_id)
        data = validated(TriageInputSerializer, request.data)
        services.triage_set(
            actor=self.operator,
            incident_id=incident_id,
            checkin_id=checkin_id,
            status=data.get("status"),
            assignee_id=data.get("assignee"),
            unassign="assignee" in data and data["assignee"] is None,
            comment=data.get("comment"),
        )
        (row,) = selectors.triage_list(incident_id=incident_id, checkin_id=checkin_id)
        return Response(TriageRowSerializer(row).data)


class LiveView(OperatorView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT, 403: ERROR, 404: ERROR},
        description="The live dashboard's snapshot (the polling fallback of the console's "
        "event stream): counters, deliveries per channel and status, answers per minute.",
    )
    def get(self, request: Request, incident_id: int) -> Response:
        self.incident(request, incident_id)
        return Response(selectors.live_snapshot(incident_id=incident_id))


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


CSV_HEADER = ("checkin_id", "name", "email", "answer", "answered_at", "channel", "note")


def csv_lines(rows: Iterable[tuple[Any, ...]]) -> Iterator[str]:
    """Render export rows as CSV lines, one at a time."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    for checkin_id, name, email, answer, answered_at, via, note in rows:
        yield writer.writerow(
            [
                checkin_id,
                name,
                email,
                answer,
                answered_at.isoformat() if answered_at else "",
                via,
                note,
            ]
        )


def export_response(*, actor: Any, incident_id: int) -> StreamingHttpResponse:
    """Stream an incident's check-ins as CSV and record the export in the audit log."""
    incident = incident_selectors.access_incident(viewer=actor, incident_id=incident_id)
    incidents_audit(actor=actor, action="export", incident=incident, format="csv")
    response = StreamingHttpResponse(
        csv_lines(selectors.checkin_export_rows(incident_id=incident_id)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="incident-{incident_id}-checkins.csv"'
    return response


class ExportView(OperatorView):
    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.STR, 403: ERROR, 404: ERROR},
        description="Every check-in of the incident as CSV, streamed.",
    )
    def get(self, request: Request, incident_id: int) -> StreamingHttpResponse:
        return export_response(actor=self.operator, incident_id=incident_id)


class AuditEntrySerializer(serializers.ModelSerializer):
    actor_name = serializers.CharField(source="actor.name", default="")

    class Meta:
        model = AuditEntry
        fields = ["id", "at", "action", "actor", "actor_name", "incident", "detail"]


class AuditQuerySerializer(serializers.Serializer):
    # Bounded: a 20-digit or non-ASCII "number" is a 400, not a database error.
    incident = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)


class AuditView(OperatorView):
    @extend_schema(
        parameters=[OpenApiParameter("incident", int, required=False)],
        responses={200: AuditEntrySerializer(many=True), 400: ERROR, 403: ERROR},
    )
    def get(self, request: Request) -> Response:
        query = validated(AuditQuerySerializer, request.query_params)
        entries = selectors.audit_entries(incident_id=query.get("incident"))
        return Response(AuditEntrySerializer(entries, many=True).data)


class PublicLogView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(responses={200: PublicLogEntrySerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(PublicLogEntrySerializer(selectors.public_log(), many=True).data)
