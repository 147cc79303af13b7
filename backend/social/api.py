"""API for friends: list, request by email, accept, decline, remove."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.accounts.models import User
from backend.common.api import ERROR, person_of, validated

from . import selectors, services
from .models import FriendRequest


class FriendSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "name", "email"]


class FriendRequestSerializer(serializers.ModelSerializer):
    from_name = serializers.CharField(source="from_person.name", read_only=True)

    class Meta:
        model = FriendRequest
        fields = ["id", "from_name", "to_email", "status", "created_at"]


class FriendRequestCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class FriendsOverviewSerializer(serializers.Serializer):
    friends = FriendSerializer(many=True)
    incoming = FriendRequestSerializer(many=True)
    outgoing = FriendRequestSerializer(many=True)


class FriendsView(APIView):
    @extend_schema(responses={200: FriendsOverviewSerializer})
    def get(self, request: Request) -> Response:
        person = person_of(request)
        return Response(
            {
                "friends": FriendSerializer(selectors.friends_of(person=person), many=True).data,
                "incoming": FriendRequestSerializer(
                    selectors.friend_requests_incoming(person=person), many=True
                ).data,
                "outgoing": FriendRequestSerializer(
                    selectors.friend_requests_outgoing(person=person).select_related("from_person"),
                    many=True,
                ).data,
            }
        )


class FriendRequestsView(APIView):
    @extend_schema(
        request=FriendRequestCreateSerializer,
        responses={201: FriendRequestSerializer, 400: ERROR, 409: ERROR},
    )
    def post(self, request: Request) -> Response:
        data = validated(FriendRequestCreateSerializer, request.data)
        friend_request = services.friend_request_create(
            sender=person_of(request), email=data["email"]
        )
        return Response(
            FriendRequestSerializer(friend_request).data, status=status.HTTP_201_CREATED
        )


class FriendRequestAcceptView(APIView):
    @extend_schema(request=None, responses={200: FriendRequestSerializer, 404: ERROR})
    def post(self, request: Request, request_id: int) -> Response:
        friend_request = services.friend_request_accept(
            person=person_of(request), request_id=request_id
        )
        return Response(FriendRequestSerializer(friend_request).data)


class FriendRequestDeclineView(APIView):
    @extend_schema(request=None, responses={200: FriendRequestSerializer, 404: ERROR})
    def post(self, request: Request, request_id: int) -> Response:
        friend_request = services.friend_request_decline(
            person=person_of(request), request_id=request_id
        )
        return Response(FriendRequestSerializer(friend_request).data)


class FriendDetailView(APIView):
    @extend_schema(responses={204: None, 404: ERROR})
    def delete(self, request: Request, friend_id: int) -> Response:
        services.friendship_remove(person=person_of(request), friend_id=friend_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
