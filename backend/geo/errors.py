"""The one error the geo package raises for bad input."""


class GeoError(ValueError):
    """Input that does not describe a usable place or region; the message is for people."""
