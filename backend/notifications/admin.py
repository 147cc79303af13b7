from django.contrib import admin

from .models import (
    Delivery,
    FanOutClaim,
    FriendAlert,
    Nudge,
    Phone,
    PushSubscription,
    Reminder,
)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "checkin", "channel", "purpose", "seq", "status", "attempts", "sent_at"]
    list_filter = ["status", "channel", "purpose"]
    raw_id_fields = ["checkin", "incident"]
    readonly_fields = ["last_error", "claimed_at", "sent_at", "created_at"]


@admin.register(FanOutClaim)
class FanOutClaimAdmin(admin.ModelAdmin):
    list_display = ["id", "incident", "channel", "size", "sent", "not_sent", "status", "claimed_at"]
    list_filter = ["status", "channel"]
    raw_id_fields = ["incident"]
    # Written by workers only: an edit would resend or lose messages.
    readonly_fields = [f.name for f in FanOutClaim._meta.fields]


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["id", "person", "created_at"]
    raw_id_fields = ["person"]
    # The keys let anyone write to the person's device: show them to nobody.
    exclude = ["p256dh", "auth"]
    readonly_fields = ["endpoint", "created_at"]


@admin.register(Phone)
class PhoneAdmin(admin.ModelAdmin):
    list_display = ["person", "number", "confirmed_at"]
    search_fields = ["number"]
    raw_id_fields = ["person"]
    exclude = ["code_hash"]
    readonly_fields = ["confirmed_at", "code_sent_at", "code_attempts"]


@admin.register(Reminder)
class ReminderAdmin(admin.ModelAdmin):
    list_display = ["checkin", "incident", "next_at", "reminders_sent", "channel_step"]
    raw_id_fields = ["checkin", "incident"]


@admin.register(FriendAlert)
class FriendAlertAdmin(admin.ModelAdmin):
    list_display = ["recipient", "response", "status", "channel", "created_at", "sent_at"]
    list_filter = ["status", "channel"]
    raw_id_fields = ["recipient", "response"]


@admin.register(Nudge)
class NudgeAdmin(admin.ModelAdmin):
    list_display = ["from_person", "checkin", "created_at"]
    raw_id_fields = ["from_person", "checkin"]
