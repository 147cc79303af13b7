"""API for SMS: my phone number and its confirmation, and the provider's inbound webhook."""

from datetime import datetime

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.common.api import ERROR, person_of, validated
from backend.common.errors import Forbidden
from backend.common.ratelimit import rate_limited
from backend.notifications.models import Phone

from . import selectors, services
from .signature import HEADER, signature_valid


class PhoneSerializer(serializers.ModelSerializer):
    confirmed = serializers.SerializerMethodField()
    code_expires_at = serializers.SerializerMethodField()

    class Meta:
        model = Phone
        fields = ["number", "confirmed", "confirmed_at", "code_expires_at"]

    def get_confirmed(self, phone: Phone) -> bool:
        return phone.confirmed_at is not None

    def get_code_expires_at(self, phone: Phone) -> datetime | None:
        if phone.confirmed_at is not None or not phone.code_hash or phone.code_sent_at is None:
            return None
        return phone.code_sent_at + services.CODE_TTL


class PhoneSetSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=40, allow_blank=True)


class PhoneConfirmSerializer(serializers.Serializer):
    code = serializers.RegexField(
        r"^\s*\d{6}\s*$", error_messages={"invalid": "The code is the 6 digits we texted you."}
    )


class InboundSerializer(serializers.Serializer):
    From = serializers.CharField(max_length=40)
    Body = serializers.CharField(max_length=1600, allow_blank=True, required=False, default="")


class PhoneView(APIView):
    @extend_schema(responses={200: PhoneSerializer, 404: ERROR})
    def get(self, request: Request) -> Response:
        return Response(PhoneSerializer(selectors.phone_of(person=person_of(request))).data)

    @extend_schema(
        request=PhoneSetSerializer,
        responses={200: PhoneSerializer, 400: ERROR, 429: ERROR, 503: ERROR},
        description="Set the number and text it a code (also how a code is sent again).",
    )
    @rate_limited("sms_send", per="person", methods=("PUT",))
    def put(self, request: Request) -> Response:
        data = validated(PhoneSetSerializer, request.data)
        phone = services.phone_set(person=person_of(request), number=data["number"])
        return Response(PhoneSerializer(phone).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request) -> Response:
        services.phone_remove(person=person_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PhoneConfirmView(APIView):
    @extend_schema(
        request=PhoneConfirmSerializer,
        responses={200: PhoneSerializer, 400: ERROR, 404: ERROR, 409: ERROR, 429: ERROR},
    )
    @rate_limited("one_time_code", per="person")
    def post(self, request: Request) -> Response:
        data = validated(PhoneConfirmSerializer, request.data)
        phone = services.phone_confirm(person=person_of(request), code=data["code"].strip())
        return Response(PhoneSerializer(phone).data)


class InboundView(APIView):
    """The provider posts each received SMS here (form-encoded `From` and `Body`)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    parser_classes = [FormParser]

    @extend_schema(
        request=InboundSerializer,
        responses={204: None, 400: ERROR, 403: ERROR},
        description=(
            f"Authenticated by `{HEADER}: sha256=<hex HMAC-SHA256 of the raw body>` keyed with "
            "SMS_INBOUND_SECRET. Every accepted message gets 204, known sender or not."
        ),
    )
    def post(self, request: Request) -> Response:
        # The signature covers the raw bytes, so it is checked before anything is parsed.
        if not signature_valid(
            request.body, request.headers.get(HEADER), secret=settings.SMS_INBOUND_SECRET
        ):
            raise Forbidden("Missing or bad signature.", code="bad_signature")
        data = validated(InboundSerializer, request.data)
        services.sms_receive(sender=data["From"], text=data["Body"])
        # The same answer for unknown senders: nothing tells a caller which numbers we know.
        return Response(status=status.HTTP_204_NO_CONTENT)
