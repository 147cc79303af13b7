"""A JSON parser that refuses hostile nesting with a 400 instead of a crash."""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:  # json's decoder recurses once per nesting level
            raise ParseError("JSON parse error - the document is nested too deeply.") from exc


def id_or_none(text: str | None) -> int | None:
    """TEXT as a database id, or None: ASCII digits only ("²" is a digit to `isdigit`), and
    small enough for a 64-bit column (a longer number is a database error, not an id)."""
    if text and text.isascii() and text.isdigit() and len(text) <= 18:
        return int(text)
    return None
