"""Template helpers for the console pages."""

from django import template
from django.templatetags.static import static

register = template.Library()


@register.simple_tag
def optional_static(path: str) -> str:
    """The URL of a static file that may not be built (the vendored map); "" if it is missing.

    The map is an enhancement: without `npm run vendor` the pages still work with GeoJSON.
    """
    from django.contrib.staticfiles import finders

    try:
        url = static(path)
    except ValueError:  # not in the manifest: built after collectstatic ran
        return ""
    from django.conf import settings

    if settings.DEBUG and not finders.find(path):
        return ""
    return url
