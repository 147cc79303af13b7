from django.contrib import admin

from .models import CheckIn, IncidentCounter, Response


class ResponseInline(admin.TabularInline):
    model = Response
    extra = 0
    readonly_fields = ["status", "note", "via", "at"]
    can_delete = False


@admin.register(CheckIn)
class CheckInAdmin(admin.ModelAdmin):
    list_display = ["id", "incident", "person", "status", "answered_at", "answered_via"]
    list_filter = ["status", "incident"]
    raw_id_fields = ["incident", "person"]
    readonly_fields = ["status", "note", "answered_at", "answered_via", "delivered_at"]
    inlines = [ResponseInline]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "checkin", "status", "via", "at"]
    list_filter = ["status", "via"]
    readonly_fields = ["checkin", "status", "note", "via", "at"]


@admin.register(IncidentCounter)
class IncidentCounterAdmin(admin.ModelAdmin):
    list_display = [
        "incident",
        "shard",
        "targeted",
        "delivered",
        "safe",
        "need_help",
        "not_in_area",
    ]
    list_filter = ["incident"]
