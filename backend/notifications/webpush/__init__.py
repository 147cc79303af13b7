"""Web Push transport: VAPID signing, aes128gcm encryption and delivery to push services."""

from backend.notifications.webpush.transport import (
    Push,
    PushResult,
    PushSender,
    PushStream,
    PushTarget,
    encrypt,
    retry_delay,
    validate_subscription,
)
from backend.notifications.webpush.vapid import VapidSigner, generate_vapid_keypair

__all__ = [
    "Push",
    "PushResult",
    "PushSender",
    "PushStream",
    "PushTarget",
    "VapidSigner",
    "encrypt",
    "generate_vapid_keypair",
    "retry_delay",
    "validate_subscription",
]
