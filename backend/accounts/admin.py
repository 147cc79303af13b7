from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import Place, User


class PlaceInline(admin.TabularInline):
    model = Place
    extra = 0
    readonly_fields = ["cell", "created_at"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "language", "is_staff", "is_active"]
    search_fields = ["email", "name"]
    inlines = [PlaceInline]
    fieldsets = (
        (None, {"fields": ("email", "password", "name", "language")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
    )
    add_fieldsets = ((None, {"fields": ("email", "name", "password1", "password2")}),)


@admin.register(Place)
class PlaceAdmin(admin.ModelAdmin):
    list_display = ["id", "person", "label", "cell", "created_at"]
    raw_id_fields = ["person"]
