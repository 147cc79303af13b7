"""Template tags of the PWA."""

import json

from django import template

from backend.pwa.words import client_words

register = template.Library()


@register.simple_tag
def words_json() -> str:
    """The client-side words as JSON, for a data attribute (escaped by the template)."""
    return json.dumps(client_words(), ensure_ascii=False, separators=(",", ":"))
