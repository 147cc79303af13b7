from django.contrib import admin

from .models import ActivationRequest, CapLink, OfficialUpdate, PublicLogEntry, Triage


@admin.register(ActivationRequest)
class ActivationRequestAdmin(admin.ModelAdmin):
    list_display = ["incident", "requested_by", "status", "audience", "created_at", "decided_by"]
    list_filter = ["status"]
    readonly_fields = ["incident", "requested_by", "reason", "audience", "status", "decided_by"]


@admin.register(PublicLogEntry)
class PublicLogEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "incident", "action", "audience"]
    list_filter = ["action"]
    readonly_fields = ["incident", "action", "reason", "audience", "at"]


@admin.register(OfficialUpdate)
class OfficialUpdateAdmin(admin.ModelAdmin):
    list_display = ["created_at", "incident", "author", "text"]
    readonly_fields = ["incident", "author", "text", "created_at"]


@admin.register(Triage)
class TriageAdmin(admin.ModelAdmin):
    list_display = ["checkin", "status", "assignee", "updated_at"]
    list_filter = ["status"]
    raw_id_fields = ["checkin", "assignee", "updated_by"]


@admin.register(CapLink)
class CapLinkAdmin(admin.ModelAdmin):
    list_display = ["sender", "identifier", "msg_type", "incident", "created_at"]
    search_fields = ["identifier", "sender"]
