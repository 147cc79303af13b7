"""Exit 0 if this host's web process answers GET /healthz with 200 (container healthcheck).

The request carries the first ALLOWED_HOSTS name, so Django accepts it, and
X-Forwarded-Proto: https, so SECURE_SSL_REDIRECT does not answer with a redirect.
"""

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("PORT", "8000")
    allowed = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = allowed[0].lstrip(".") if allowed and allowed[0] != "*" else "localhost"
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/healthz",
        headers={"Host": host, "X-Forwarded-Proto": "https"},
    )
    try:
        # A fixed http URL on loopback, not user input.
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthz: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
