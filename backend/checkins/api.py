"""API for check-ins: mine, answering, and my friends' answers."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.common.api import ERROR, person_of, validated
from backend.incidents.selectors import access_incident

from . import selectors, services
from .models import Answer, CheckIn


class CheckInSerializer(serializers.ModelSerializer):
    incident_id = serializers.IntegerField(read_only=True)
    incident_title = serializers.CharField(source="incident.title", read_only=True)
    incident_status = serializers.CharField(source="incident.status", read_only=True)
    drill = serializers.BooleanField(source="incident.drill", read_only=True)

    class Meta:
        model = CheckIn
        fields = [
            "id",
            "incident_id",
            "incident_title",
            "incident_status",
            "drill",
            "status",
            "note",
            "answered_at",
            "created_at",
        ]


class FriendCheckInSerializer(serializers.ModelSerializer):
    """What a friend may see: name, answer, note and time. No places, no channels.

    Documents the rows of `selectors.friends_statuses`, which the views return as they are.
    """

    person_id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(source="person.name", read_only=True)
    incident_id = serializers.IntegerField(read_only=True)
    incident_title = serializers.CharField(source="incident.title", read_only=True)

    class Meta:
        model = CheckIn
        fields = [
            "person_id",
            "name",
            "incident_id",
            "incident_title",
            "status",
            "note",
            "answered_at",
        ]


class RespondSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Answer.choices)
    note = serializers.CharField(max_length=280, required=False, allow_blank=True, default="")


class MyCheckInsView(APIView):
    @extend_schema(responses={200: CheckInSerializer(many=True)})
    def get(self, request: Request) -> Response:
        checkins = selectors.checkins_of(person=person_of(request))[:100]
        return Response(CheckInSerializer(checkins, many=True).data)


class RespondView(APIView):
    @extend_schema(
        request=RespondSerializer,
        responses={200: CheckInSerializer, 400: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request: Request, checkin_id: int) -> Response:
        data = validated(RespondSerializer, request.data)
        selectors.access_own_checkin(person=person_of(request), checkin_id=checkin_id)
        checkin = services.checkin_respond(checkin_id=checkin_id, via="app", **data)
        return Response(CheckInSerializer(checkin).data)


class IncidentFriendsView(APIView):
    @extend_schema(responses={200: FriendCheckInSerializer(many=True), 404: ERROR})
    def get(self, request: Request, incident_id: int) -> Response:
        access_incident(viewer=person_of(request), incident_id=incident_id)
        rows = selectors.friends_statuses(viewer=person_of(request), incident_id=incident_id)
        return Response(rows)


class MyFriendsCheckInsView(APIView):
    @extend_schema(responses={200: FriendCheckInSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response(selectors.friends_statuses(viewer=person_of(request)))
