from django.contrib import admin

from .models import FriendRequest, Friendship


@admin.register(FriendRequest)
class FriendRequestAdmin(admin.ModelAdmin):
    list_display = ["from_person", "to_email", "status", "created_at"]
    list_filter = ["status"]
    raw_id_fields = ["from_person", "to_person"]


@admin.register(Friendship)
class FriendshipAdmin(admin.ModelAdmin):
    list_display = ["person", "friend", "created_at"]
    raw_id_fields = ["person", "friend"]
