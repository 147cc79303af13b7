"""The B3 baseline: a bare DRF endpoint that parses the answer form and does one Redis write."""

import redis
from django.conf import settings
from django.urls import path
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

_redis = redis.Redis.from_url(settings.REDIS_URL)


class BareAnswerView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    parser_classes = [FormParser]

    def post(self, request: Request, token: str) -> Response:
        status = str(request.data.get("status", ""))
        _redis.hset("bench:bare-answers", token, status)
        return Response({"status": status})


urlpatterns = [path("r/<str:token>", BareAnswerView.as_view())]
