"""Notification channels as plug-ins: adding one touches this folder only.

Each module defines a `Channel` subclass and registers it in CHANNELS below.
"""

from .base import Channel, FriendNews, Message, SendResult
from .email import EmailChannel
from .sms import SmsChannel
from .webpush import WebPushChannel

CHANNELS: dict[str, Channel] = {
    channel.name: channel for channel in (WebPushChannel(), SmsChannel(), EmailChannel())
}

__all__ = ("CHANNELS", "Channel", "FriendNews", "Message", "SendResult")
