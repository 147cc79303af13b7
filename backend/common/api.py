"""Small pieces shared by every app's API."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, permissions, serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from backend.accounts.models import User


def person_of(request: Request) -> User:
    """The signed-in person; views that call this require authentication."""
    user = request.user
    if not isinstance(user, User):
        raise exceptions.NotAuthenticated()
    return user


class IsOperator(permissions.BasePermission):
    message = "Only operators may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.user, User) and request.user.is_operator


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """Validate DATA with SERIALIZER_CLASS or raise the API's 400."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


ERROR = OpenApiResponse(
    response=inline_serializer(
        "Error",
        {
            "error": inline_serializer(
                "ErrorBody",
                {
                    "code": serializers.CharField(),
                    "message": serializers.CharField(),
                    "fields": serializers.DictField(required=False),
                },
            )
        },
    ),
    description="The request was refused; nothing was changed.",
)
