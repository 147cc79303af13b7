"""API for people: sign-up, token, profile, places."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.common.api import ERROR, person_of, validated
from backend.common.errors import ServiceError
from backend.common.ratelimit import rate_limited

from . import services
from .models import Place, User


class PersonSerializer(serializers.ModelSerializer):
    is_operator = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "name", "language", "is_operator"]
        read_only_fields = ["id", "email"]


class SignupSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, write_only=True)
    name = serializers.CharField(max_length=120)
    language = serializers.ChoiceField(choices=User.Language.choices, default="en")


class TokenRequestSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class MeUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    language = serializers.ChoiceField(choices=User.Language.choices, required=False)


class PlaceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Place
        fields = ["id", "label", "created_at"]


class PlaceCreateSerializer(serializers.Serializer):
    label = serializers.ChoiceField(  # type: ignore[assignment] # DRF's Field.label
        choices=Place.Label.choices, default=Place.Label.HOME
    )
    lat = serializers.FloatField(min_value=-90, max_value=90)
    lon = serializers.FloatField(min_value=-180, max_value=180)


class TokenView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        request=TokenRequestSerializer, responses={200: TokenSerializer, 400: ERROR, 429: ERROR}
    )
    @rate_limited("signin")
    def post(self, request: Request) -> Response:
        data = validated(TokenRequestSerializer, request.data)
        user = authenticate(
            request, username=User.objects.normalize_email(data["email"]), password=data["password"]
        )
        if user is None:
            raise ServiceError("Wrong email or password.", code="bad_credentials")
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class SignupView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(
        request=SignupSerializer, responses={201: PersonSerializer, 400: ERROR, 429: ERROR}
    )
    @rate_limited("signup")
    def post(self, request: Request) -> Response:
        person = services.person_signup(**validated(SignupSerializer, request.data))
        return Response(PersonSerializer(person).data, status=status.HTTP_201_CREATED)


class MeView(APIView):
    @extend_schema(responses={200: PersonSerializer})
    def get(self, request: Request) -> Response:
        return Response(PersonSerializer(person_of(request)).data)

    @extend_schema(request=MeUpdateSerializer, responses={200: PersonSerializer, 400: ERROR})
    def patch(self, request: Request) -> Response:
        person = services.person_update(
            person=person_of(request), **validated(MeUpdateSerializer, request.data)
        )
        return Response(PersonSerializer(person).data)


class PlacesView(APIView):
    @extend_schema(responses={200: PlaceSerializer(many=True)})
    def get(self, request: Request) -> Response:
        places = Place.objects.filter(person=person_of(request)).order_by("id")
        return Response(PlaceSerializer(places, many=True).data)

    @extend_schema(request=PlaceCreateSerializer, responses={201: PlaceSerializer, 400: ERROR})
    def post(self, request: Request) -> Response:
        place = services.place_add(
            person=person_of(request), **validated(PlaceCreateSerializer, request.data)
        )
        return Response(PlaceSerializer(place).data, status=status.HTTP_201_CREATED)


class PlaceDetailView(APIView):
    @extend_schema(responses={204: None, 404: ERROR})
    def delete(self, request: Request, place_id: int) -> Response:
        services.place_delete(person=person_of(request), place_id=place_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
