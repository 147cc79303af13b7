"""Security headers on every response: a strict Content-Security-Policy and friends.

HSTS, nosniff and the referrer policy are Django's SecurityMiddleware's job (settings);
this adds what Django does not: CSP and Permissions-Policy. No inline script or style is
allowed anywhere, so an injected `<script>` does nothing even if escaping ever fails.
"""

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# Geolocation only for our own pages (the PWA asks for "use my location"); no camera,
# microphone or payment, even if a dependency ever asks.
PERMISSIONS_POLICY = (
    "geolocation=(self), camera=(), microphone=(), payment=(), usb=(), "
    "interest-cohort=(), browsing-topics=()"
)


def tile_origin(url: str) -> str:
    """The scheme://host[:port] of a tile URL template such as https://{s}.tile.example/..."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return ""
    # Leaflet's "{s}" subdomain placeholder becomes a CSP wildcard.
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"


def content_security_policy(*, tile_url: str = "") -> str:
    """The CSP header value: our origin only, images also from the tile server."""
    images = " ".join(filter(None, ["'self'", "data:", tile_origin(tile_url)]))
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        f"img-src {images}",
        "connect-src 'self'",
        "font-src 'self'",
        "manifest-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ]
    return "; ".join(directives)


class SecurityHeadersMiddleware:
    """Add CSP and Permissions-Policy where the view did not set its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.csp = content_security_policy(tile_url=settings.SAFE_TILE_URL)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.csp)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response
