from django.urls import URLPattern, URLResolver, path

from . import api
from .sms import api as sms

urlpatterns: list[URLPattern | URLResolver] = [
    path("push/vapid-public-key/", api.VapidPublicKeyView.as_view()),
    path("me/push-subscriptions/", api.PushSubscriptionsView.as_view()),
    path("me/channels/", api.ChannelPreferencesView.as_view()),
    path("checkins/<id:checkin_id>/nudge/", api.NudgeView.as_view()),
    path("incidents/<id:incident_id>/deliveries/", api.DeliveryCountsView.as_view()),
    path("me/phone/", sms.PhoneView.as_view()),
    path("me/phone/confirm/", sms.PhoneConfirmView.as_view()),
    path("sms/inbound/", sms.InboundView.as_view()),
]
