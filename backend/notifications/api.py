"""API for notifications: push subscriptions, channel choices, token answers, nudges, counts."""

import json
import re
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.json import strict_constant
from rest_framework.views import APIView

from backend.accounts.models import User
from backend.checkins.models import Answer, CheckIn
from backend.checkins.services import checkin_respond_with_token
from backend.common.api import ERROR, IsOperator, person_of, validated
from backend.common.errors import NotFound, ServiceError, error_body, refusal
from backend.common.ratelimit import rate_key, rate_limit_count, rate_limit_pending
from backend.incidents.models import Incident

from . import selectors, services
from .channels.webpush import vapid_public_key
from .webpush.transport import MAX_ENDPOINT_LENGTH


class PushKeysSerializer(serializers.Serializer):
    # base64url of a 65-byte point (87 characters) and of 16 bytes (22), with some slack
    # for padding; validate_subscription checks the decoded lengths.
    p256dh = serializers.CharField(max_length=100)
    auth = serializers.CharField(max_length=32)


class PushSubscriptionSerializer(serializers.Serializer):
    """The browser's `PushSubscription.toJSON()`."""

    endpoint = serializers.CharField(max_length=MAX_ENDPOINT_LENGTH)
    expirationTime = serializers.IntegerField(required=False, allow_null=True)
    keys = PushKeysSerializer()


class EndpointSerializer(serializers.Serializer):
    endpoint = serializers.CharField(max_length=MAX_ENDPOINT_LENGTH)


class ChannelPreferencesSerializer(serializers.Serializer):
    order = serializers.ListField(child=serializers.CharField(max_length=20), max_length=10)
    friend_alerts = serializers.BooleanField()


class TokenAnswerSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=64)
    status = serializers.ChoiceField(choices=Answer.choices)
    note = serializers.CharField(max_length=280, required=False, allow_blank=True, default="")


# What a notification's action posts: a token of the shape `checkin_token` makes (at most
# 56 characters) and a status, no note.
_PLAIN_TOKEN = re.compile(r"[0-9a-f]{1,16}\.[0-9a-f]{1,16}\.[A-Za-z0-9_-]{22}")
_ANSWERS = frozenset(Answer.values)


def plain_token_answer(data: object) -> dict[str, str] | None:
    """The validated data of the common body, {token, status}, as TokenAnswerSerializer
    would give it; None for any other body (the serializer decides those)."""
    if isinstance(data, dict) and data.get("note", "") == "":
        token, answer = data.get("token"), data.get("status")
        if (
            isinstance(token, str)
            and _PLAIN_TOKEN.fullmatch(token)
            and isinstance(answer, str)
            and answer in _ANSWERS
        ):
            return {"token": token, "status": answer, "note": ""}
    return None


def token_answer_data(data: object) -> dict[str, str]:
    """TokenAnswerSerializer's validated data, without building it for the common body.

    This is the peak path, and building the serializer cost a third of the request (0.19 of
    0.57 ms, cProfile). A body the serializer would take unchanged is taken as it is; any
    other goes through the serializer, for the same result or the same 400.
    """
    return plain_token_answer(data) or validated(TokenAnswerSerializer, data)


# The common request's body is tiny: a larger one is left to DRF, which reads it with limits.
_PLAIN_MAX_BYTES = 512


def plain_token_request(request: HttpRequest) -> dict[str, str] | None:
    """The validated data of the common request, read without DRF: a POST of JSON holding
    {token, status} only. None for anything else, before anything was read or counted, so
    DRF can take it and give the same answer or the same error."""
    length = request.META.get("CONTENT_LENGTH", "")
    if (
        request.method != "POST"
        or request.content_type != "application/json"
        or (request.content_params or {}).get("charset", "utf-8").lower() != "utf-8"
        or not (length.isdigit() and int(length) <= _PLAIN_MAX_BYTES)
    ):
        return None
    try:
        # As DRF's parser reads it: UTF-8, and no NaN or Infinity.
        data = json.loads(request.body.decode(), parse_constant=strict_constant)
    except (ValueError, RecursionError):
        return None
    return plain_token_answer(data)


class AnsweredSerializer(serializers.ModelSerializer):
    class Meta:
        model = CheckIn
        fields = ["id", "status", "note", "answered_at"]


VAPID_KEY = inline_serializer("VapidPublicKey", {"public_key": serializers.CharField()})
PREFERENCES = inline_serializer(
    "ChannelPreferences",
    {
        "order": serializers.ListField(child=serializers.CharField()),
        "friend_alerts": serializers.BooleanField(),
        "available": serializers.ListField(child=serializers.CharField()),
    },
)
COUNTS = inline_serializer(
    "DeliveryCounts",
    {
        "channels": serializers.DictField(
            child=serializers.DictField(child=serializers.IntegerField())
        )
    },
)


class VapidPublicKeyView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(responses={200: VAPID_KEY, 503: ERROR})
    def get(self, request: Request) -> Response:
        public_key = vapid_public_key()
        if public_key is None:
            return Response(
                error_body("push_unavailable", "Web Push is not configured on this server."),
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response({"public_key": public_key})


class PushSubscriptionsView(APIView):
    @extend_schema(
        request=PushSubscriptionSerializer,
        responses={201: OpenApiResponse(description="Stored"), 200: None, 400: ERROR},
    )
    def post(self, request: Request) -> Response:
        data = validated(PushSubscriptionSerializer, request.data)
        _, created = services.push_subscription_save(
            person=person_of(request), endpoint=data["endpoint"], **data["keys"]
        )
        return Response(status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=EndpointSerializer, responses={204: None, 400: ERROR, 404: ERROR})
    def delete(self, request: Request) -> Response:
        data = validated(EndpointSerializer, request.data)
        services.push_subscription_delete(person=person_of(request), endpoint=data["endpoint"])
        return Response(status=status.HTTP_204_NO_CONTENT)


def _preferences(person: User) -> dict[str, object]:
    return {
        "order": person.channel_order,
        "friend_alerts": person.friend_alerts,
        "available": services.channels_for(person),
    }


class ChannelPreferencesView(APIView):
    @extend_schema(responses={200: PREFERENCES})
    def get(self, request: Request) -> Response:
        return Response(_preferences(person_of(request)))

    @extend_schema(request=ChannelPreferencesSerializer, responses={200: PREFERENCES, 400: ERROR})
    def put(self, request: Request) -> Response:
        data = validated(ChannelPreferencesSerializer, request.data)
        person = services.channel_preferences_set(person=person_of(request), **data)
        return Response(_preferences(person))


class TokenAnswerView(APIView):
    """Answer with a one-tap token: what the service worker posts from a notification action.

    No session and so no CSRF: the signed token is the credential, scoped to one check-in.
    """

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # The peak path: what a notification's action posts is answered without DRF's
        # request, content negotiation and renderer, which cost a quarter of the request
        # (0.55 → 0.41 ms in-process; docs/performance.md, B3). Every other request is
        # DRF's from the start.
        data = plain_token_request(request)
        if data is None:
            return super().dispatch(request, *args, **kwargs)
        try:
            answered = _answer_with_token(request, lambda: data)
        except ServiceError as exc:
            return refusal(exc)
        return HttpResponse(JSONRenderer().render(answered), content_type="application/json")

    @extend_schema(
        request=TokenAnswerSerializer,
        responses={200: AnsweredSerializer, 400: ERROR, 404: ERROR, 409: ERROR, 429: ERROR},
        description="Answer a check-in with its signed one-tap token (no sign-in).",
    )
    def post(self, request: Request) -> Response:
        return Response(_answer_with_token(request, lambda: request.data))


def _answer_with_token(
    request: HttpRequest | Request, body: Callable[[], object]
) -> dict[str, Any]:
    """Answer with the token in the request's BODY (read once its hit is pending: a body
    refused as malformed counts against the rate limit too)."""
    # One Redis call on the peak path: the rate limit's hit is counted by the answer's own
    # enqueue, and here only if the request was refused before it.
    hit = rate_limit_pending(scope="one_tap", key=rate_key(request))
    try:
        checkin = checkin_respond_with_token(via="push", hit=hit, **token_answer_data(body()))
    finally:
        rate_limit_count(hit)
    # The fields of AnsweredSerializer, without building a serializer: this is the peak path.
    return {
        "id": checkin.id,
        "status": checkin.status,
        "note": checkin.note,
        "answered_at": checkin.answered_at,
    }


class NudgeView(APIView):
    @extend_schema(request=None, responses={202: None, 404: ERROR, 409: ERROR, 429: ERROR})
    def post(self, request: Request, checkin_id: int) -> Response:
        services.checkin_nudge(sender=person_of(request), checkin_id=checkin_id)
        return Response(status=status.HTTP_202_ACCEPTED)


class DeliveryCountsView(APIView):
    permission_classes = [IsOperator]

    @extend_schema(responses={200: COUNTS, 403: ERROR, 404: ERROR})
    def get(self, request: Request, incident_id: int) -> Response:
        if not Incident.objects.filter(id=incident_id).exists():
            raise NotFound("No such incident.")
        return Response({"channels": selectors.delivery_counts(incident_id=incident_id)})
