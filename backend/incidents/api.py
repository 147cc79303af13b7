"""API for incidents: create, list, audience, activate, resolve, live counters."""

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.checkins.selectors import incident_stats
from backend.common.api import ERROR, IsOperator, person_of, validated
from backend.console import services as console

from . import selectors, services
from .models import AffectedRegion, Incident


class CenterSerializer(serializers.Serializer):
    lat = serializers.FloatField(min_value=-90, max_value=90)
    lon = serializers.FloatField(min_value=-180, max_value=180)


class RegionInputSerializer(serializers.Serializer):
    """A GeoJSON Polygon / MultiPolygon, or a circle given as centre and radius."""

    geometry = serializers.JSONField(required=False)
    center = CenterSerializer(required=False)
    radius_m = serializers.FloatField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        has_geometry = "geometry" in attrs
        has_circle = "center" in attrs or "radius_m" in attrs
        if has_geometry == has_circle:
            raise serializers.ValidationError(
                "Give either a GeoJSON 'geometry' or a circle ('center' and 'radius_m')."
            )
        if has_circle and not ("center" in attrs and "radius_m" in attrs):
            raise serializers.ValidationError("A circle needs both 'center' and 'radius_m'.")
        if has_geometry and not isinstance(attrs["geometry"], dict):
            raise serializers.ValidationError({"geometry": "Must be a GeoJSON object."})
        return attrs


class IncidentCreateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=Incident.Kind.choices, default=Incident.Kind.OTHER)
    drill = serializers.BooleanField(default=False)
    regions = RegionInputSerializer(many=True, allow_empty=False)

    def validate_regions(self, regions: list[Any]) -> list[Any]:
        if len(regions) > settings.SAFE_MAX_REGIONS:
            raise serializers.ValidationError(f"At most {settings.SAFE_MAX_REGIONS} regions.")
        return regions


class RegionSerializer(serializers.ModelSerializer):
    class Meta:
        model = AffectedRegion
        fields = [
            "id",
            "geometry",
            "center_lat",
            "center_lon",
            "radius_m",
            "area_km2",
            "cell_count",
            "summary",
        ]


class IncidentSerializer(serializers.ModelSerializer):
    regions = RegionSerializer(many=True, read_only=True)

    class Meta:
        model = Incident
        fields = [
            "id",
            "title",
            "description",
            "kind",
            "status",
            "drill",
            "created_at",
            "activated_at",
            "resolved_at",
            "fanout_done_at",
            "regions",
        ]


class IncidentReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True)


# Published in the public activation log when an API client gives no reason.
DEFAULT_API_REASON = "Activated through the API."


class AudienceSerializer(serializers.Serializer):
    people = serializers.IntegerField()


class StatsSerializer(serializers.Serializer):
    targeted = serializers.IntegerField()
    delivered = serializers.IntegerField()
    safe = serializers.IntegerField()
    need_help = serializers.IntegerField()
    not_in_area = serializers.IntegerField()
    no_answer = serializers.IntegerField()


class IncidentsView(APIView):
    def get_permissions(self) -> list[Any]:
        permissions = list(super().get_permissions())
        if self.request.method == "POST":
            permissions.append(IsOperator())
        return permissions

    @extend_schema(responses={200: IncidentSerializer(many=True)})
    def get(self, request: Request) -> Response:
        incidents = selectors.incidents_visible(viewer=person_of(request))[:200]
        return Response(IncidentSerializer(incidents, many=True).data)

    @extend_schema(
        request=IncidentCreateSerializer,
        responses={201: IncidentSerializer, 400: ERROR, 403: ERROR},
    )
    def post(self, request: Request) -> Response:
        incident = services.incident_create(
            creator=person_of(request), **validated(IncidentCreateSerializer, request.data)
        )
        return Response(IncidentSerializer(incident).data, status=status.HTTP_201_CREATED)


class IncidentDetailView(APIView):
    @extend_schema(responses={200: IncidentSerializer, 404: ERROR})
    def get(self, request: Request, incident_id: int) -> Response:
        incident = selectors.access_incident(viewer=person_of(request), incident_id=incident_id)
        return Response(IncidentSerializer(incident).data)


class AudienceView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(responses={200: AudienceSerializer, 403: ERROR, 404: ERROR})
    def get(self, request: Request, incident_id: int) -> Response:
        selectors.access_incident(viewer=person_of(request), incident_id=incident_id)
        return Response({"people": selectors.incident_audience_count(incident_id=incident_id)})


class ActivateView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(
        request=IncidentReasonSerializer,
        responses={202: IncidentSerializer, 400: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request: Request, incident_id: int) -> Response:
        """Activate (or, under the two-operator rule, ask a second operator to approve)."""
        reason = (
            validated(IncidentReasonSerializer, request.data).get("reason") or DEFAULT_API_REASON
        )
        actor = person_of(request)
        incident = selectors.access_incident(viewer=actor, incident_id=incident_id)
        console.activation_request(
            actor=actor, incident_id=incident_id, reason=reason, confirm_title=incident.title
        )
        incident.refresh_from_db()
        return Response(IncidentSerializer(incident).data, status=status.HTTP_202_ACCEPTED)


class ResolveView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(
        request=IncidentReasonSerializer,
        responses={200: IncidentSerializer, 400: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request: Request, incident_id: int) -> Response:
        reason = validated(IncidentReasonSerializer, request.data).get("reason") or "Resolved."
        incident = console.incident_close(
            actor=person_of(request), incident_id=incident_id, reason=reason
        )
        return Response(IncidentSerializer(incident).data)


class StatsView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(responses={200: StatsSerializer, 403: ERROR, 404: ERROR})
    def get(self, request: Request, incident_id: int) -> Response:
        selectors.access_incident(viewer=person_of(request), incident_id=incident_id)
        return Response(incident_stats(incident_id=incident_id))
