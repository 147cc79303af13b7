"""The B3 baseline: a bare DRF endpoint that parses the answer JSON and does one Redis write."""

import redis
from django.conf import settings
from django.urls import path
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

_redis = redis.Redis.from_url(settings.REDIS_URL)


class BareAnswerView(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    parser_classes = [JSONParser]

    def post(self, request: Request) -> Response:
        status = str(request.data.get("status", ""))
        _redis.hset("bench:bare-answers", str(request.data.get("token", "")), status)
        return Response({"status": status})


urlpatterns = [path("api/answer/", BareAnswerView.as_view())]
