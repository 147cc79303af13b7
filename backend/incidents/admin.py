"""Admin for incidents. Activation and resolution go through the services, never a save()."""

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from backend.accounts.models import User
from backend.checkins.selectors import incident_stats
from backend.common.errors import ServiceError
from backend.console import services as console

from .models import AffectedRegion, AuditEntry, CellRange, Incident

ADMIN_REASON = "Activated from the admin."


class RegionInline(admin.TabularInline):
    model = AffectedRegion
    extra = 0
    fields = ["summary", "area_km2", "cell_count"]
    readonly_fields = ["summary", "area_km2", "cell_count"]
    can_delete = False


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["title", "kind", "status", "drill", "created_at", "activated_at", "counters"]
    list_filter = ["status", "kind", "drill"]
    search_fields = ["title"]
    readonly_fields = [
        "status",
        "created_by",
        "created_at",
        "activated_by",
        "activated_at",
        "resolved_by",
        "resolved_at",
        "fanout_done_at",
    ]
    inlines = [RegionInline]
    actions = ["activate", "resolve"]

    @admin.display(description="targeted / safe / need help / no answer")
    def counters(self, incident: Incident) -> str:
        stats = incident_stats(incident_id=incident.id)
        return (
            f"{stats['targeted']} / {stats['safe']} / {stats['need_help']} / {stats['no_answer']}"
        )

    def _run(
        self,
        request: HttpRequest,
        queryset: QuerySet[Incident],
        service: Callable[..., object],
        verb: str,
    ) -> None:
        for incident in queryset:
            try:
                service(actor=request.user, incident_id=incident.id)
            except ServiceError as exc:
                self.message_user(request, f"{incident}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{incident}: {verb}.", messages.SUCCESS)

    @admin.action(description="Activate (ask everyone in the regions)")
    def activate(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        def activate(*, actor: User, incident_id: int) -> None:
            title = Incident.objects.get(id=incident_id).title
            console.activation_request(
                actor=actor, incident_id=incident_id, reason=ADMIN_REASON, confirm_title=title
            )

        self._run(request, queryset, activate, "activated (or sent for approval)")

    @admin.action(description="Resolve")
    def resolve(self, request: HttpRequest, queryset: QuerySet[Incident]) -> None:
        def resolve(*, actor: User, incident_id: int) -> None:
            console.incident_close(actor=actor, incident_id=incident_id, reason="Resolved.")

        self._run(request, queryset, resolve, "resolved")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Regions must be compiled to cell ranges: create incidents through the API/console.
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["at", "actor", "action", "incident"]
    list_filter = ["action"]
    readonly_fields = ["at", "actor", "action", "incident", "detail"]


@admin.register(AffectedRegion)
class AffectedRegionAdmin(admin.ModelAdmin):
    """Read-only: a region's cell ranges are compiled from it by the services."""

    list_display = ["id", "incident", "summary", "area_km2", "cell_count"]
    readonly_fields = [f.name for f in AffectedRegion._meta.fields]


@admin.register(CellRange)
class CellRangeAdmin(admin.ModelAdmin):
    list_display = ["id", "incident", "region", "lo", "hi"]
    readonly_fields = ["incident", "region", "lo", "hi"]
