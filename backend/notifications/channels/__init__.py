"""Notification channels as plug-ins: adding one touches this folder only.

Each module defines a `Channel` subclass and registers it in CHANNELS below.
"""

from .base import Channel, Message, SendResult
from .email import EmailChannel

CHANNELS: dict[str, Channel] = {channel.name: channel for channel in (EmailChannel(),)}

__all__ = ("CHANNELS", "Channel", "Message", "SendResult")
