from django.contrib import admin

from .models import Delivery


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "checkin", "channel", "purpose", "seq", "status", "attempts", "sent_at"]
    list_filter = ["status", "channel", "purpose"]
    raw_id_fields = ["checkin", "incident"]
    readonly_fields = ["last_error", "claimed_at", "sent_at", "created_at"]
