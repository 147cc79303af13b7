"""The PWA's pages, mounted at the site root."""

from django.urls import URLPattern, URLResolver, path

from . import views

app_name = "pwa"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("live/home", views.home_live, name="home-live"),
    path("signup", views.signup, name="signup"),
    path("signin", views.signin, name="signin"),
    path("signin/email", views.magic_link_request, name="magic-request"),
    path("signin/link/<str:token>", views.magic_link_open, name="magic-open"),
    path("signout", views.signout, name="signout"),
    path("welcome", views.welcome, name="welcome"),
    path("places/<id:place_id>/delete", views.place_remove, name="place-delete"),
    path("checkins/<id:checkin_id>/answer", views.answer, name="answer"),
    path("incidents/<id:incident_id>/", views.incident, name="incident"),
    path("live/incidents/<id:incident_id>", views.incident_live, name="incident-live"),
    path("friends", views.friends, name="friends"),
    path(
        "friends/requests/<id:request_id>/accept",
        views.friend_request_answer,
        {"verdict": "accept"},
        name="friend-accept",
    ),
    path(
        "friends/requests/<id:request_id>/decline",
        views.friend_request_answer,
        {"verdict": "decline"},
        name="friend-decline",
    ),
    path("friends/<id:friend_id>/remove", views.friend_remove, name="friend-remove"),
    path("friends/invite/<str:token>", views.invite, name="invite"),
    path("settings", views.settings_page, name="settings"),
    path("settings/export.json", views.export, name="export"),
    path("settings/delete", views.delete_account, name="delete"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("sw.js", views.service_worker, name="sw"),
    path("strings/<str:language>.json", views.strings, name="strings"),
    path("offline", views.offline, name="offline"),
]
