"""Web Push: every device a person subscribed, through one long-lived PushSender per process.

The VAPID key comes from VAPID_PRIVATE_KEY / VAPID_SUBJECT. With DEBUG on and no key, a demo
key is generated once into var/vapid.json so `make run` works; in production without a key
the channel reaches nobody (the start-up log says so).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import reverse

from backend.accounts.models import User
from backend.notifications.models import PushSubscription
from backend.notifications.selectors import push_devices
from backend.notifications.texts import answer_actions, checkin_text_key, short_body, title
from backend.notifications.webpush import (
    Push,
    PushResult,
    PushSender,
    PushTarget,
    VapidSigner,
    generate_vapid_keypair,
)
from backend.notifications.webpush.transport import MAX_PAYLOAD
from backend.notifications.webpush.vapid import b64url_encode

from .base import NOT_STARTED, Channel, Message, Ready, SendResult, SendWindow

log = logging.getLogger(__name__)

# A push service keeps an undelivered message at most this long (a day: after that an
# "are you safe?" is stale, and reminders follow anyway).
MAX_TTL = 24 * 3600
CHECKIN_PURPOSES = frozenset({"ask", "escalation", "reminder", "nudge"})
DEMO_SUBJECT = "mailto:demo@example.org"
NOT_CONFIGURED = SendResult("failed", error="Web Push is not configured")
NO_SUBSCRIPTION = SendResult("gone", error="no push subscription")
SENT = SendResult("sent")

_lock = threading.Lock()
_sender: PushSender | None = None
_sender_built = False


def demo_key_path() -> Path:
    return Path(settings.VAR_DIR) / "vapid.json"


def vapid_config() -> tuple[str, str] | None:
    """Return (private key, subject) from settings, the demo key in DEBUG, or None."""
    private_key = getattr(settings, "VAPID_PRIVATE_KEY", "")
    subject = getattr(settings, "VAPID_SUBJECT", "") or DEMO_SUBJECT
    if private_key:
        return private_key, subject
    if not settings.DEBUG:
        return None
    return _demo_private_key(), subject


def _demo_private_key() -> str:
    """Read var/vapid.json, creating it first if needed (atomic: worker processes race)."""
    path = demo_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        private_key, public_key = generate_vapid_keypair()
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".vapid-")
        with os.fdopen(fd, "w") as f:
            json.dump({"private_key": private_key, "public_key": public_key}, f)
        try:
            os.link(temp, path)  # fails if another process got there first: use theirs
            log.warning("Web Push: generated a demo VAPID key in %s (DEBUG only)", path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temp)
    return str(json.loads(path.read_text())["private_key"])


def push_sender() -> PushSender | None:
    """The process's PushSender, built on first use; None when Web Push is not configured."""
    global _sender, _sender_built
    with _lock:
        if not _sender_built:
            config = vapid_config()
            if config is not None:
                _sender = PushSender(
                    signer=VapidSigner(*config), pool_size=settings.SAFE_PUSH_ORIGIN_CONCURRENCY
                )
            _sender_built = True
        return _sender


def vapid_public_key() -> str | None:
    """The key browsers pass as `applicationServerKey`, or None when push is off."""
    sender = push_sender()
    return sender.signer.public_key if sender is not None else None


@receiver(setting_changed)
def _reset_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    """Rebuild the sender when tests change the keys or limits."""
    global _sender, _sender_built
    if setting.startswith(("VAPID_", "SAFE_PUSH_", "DEBUG")):
        with _lock:
            if _sender is not None:
                _sender.close()
            _sender, _sender_built = None, False


@functools.lru_cache(maxsize=4)
def _answer_url(site_url: str) -> str:
    # Resolving a URL name costs more than the rest of the payload: once per site URL.
    return site_url + reverse("answer-with-token")


def push_payload(message: Message) -> bytes:
    """The JSON the service worker receives: enough to show and answer without a fetch."""
    token, link = message.token, message.link
    if (
        message.purpose in CHECKIN_PURPOSES
        and link.endswith(token)
        and _TOKEN_CHARS.fullmatch(token)
    ):
        prefix = link[: -len(token)]
        pieces = _checkin_template(*checkin_text_key(message), prefix, settings.SITE_URL)
        if pieces is not None:  # every person of a fan-out: only the id and token differ
            values = {_ID: str(message.checkin_id), _TOKEN: token}
            payload = "".join(values.get(piece, piece) for piece in pieces).encode()
            if len(payload) <= MAX_PAYLOAD:
                return payload
    return _payload_json(message, message.checkin_id)


def _payload_json(message: Message, checkin: int | str) -> bytes:
    data: dict[str, Any] = {
        "kind": message.purpose,
        "title": title(message),
        "body": short_body(message),
        "url": message.link,
        "drill": message.drill,
        "incident": message.incident_title,
    }
    if message.purpose in CHECKIN_PURPOSES:
        data.update(
            checkin=checkin,
            token=message.token,
            answer_url=_answer_url(settings.SITE_URL),
            actions=answer_actions(message.language),
            tag=f"checkin-{checkin}",
        )
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    if len(payload) > MAX_PAYLOAD:
        # Only the friend list can grow this large; the app shows the rest.
        data["body"] = data["body"][:500]
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return payload


# A check-in's payload is the same JSON for everyone who shares its words and link prefix but
# for the check-in id and token: built once, then filled in (~5 µs a message against ~15 for
# encoding the whole JSON each time, 1,000 asks).
# The stand-ins are control characters, which JSON always escapes.
_ID, _TOKEN = "\x00id\x00", "\x00token\x00"
# How they come out of `json.dumps`: the id once as the whole (quoted) value, once in the tag.
_ID_JSON, _TOKEN_JSON = json.dumps(_ID)[1:-1], json.dumps(_TOKEN)[1:-1]
_EXPECTED = sorted([f'"{_ID_JSON}"', _ID_JSON, _TOKEN_JSON, _TOKEN_JSON])
_SLOTS = re.compile("(" + "|".join(map(re.escape, [f'"{_ID_JSON}"', _ID_JSON, _TOKEN_JSON])) + ")")
_TOKEN_CHARS = re.compile(r"[0-9A-Za-z._-]{1,64}")  # needs no JSON escaping


@functools.lru_cache(maxsize=256)
def _checkin_template(
    language: str,
    purpose: str,
    drill: bool,
    incident_title: str,
    sender_name: str,
    link_prefix: str,
    site_url: str,  # part of the key: the answer URL is made from it
) -> tuple[str, ...] | None:
    """The payload's JSON cut around its check-in id and token (`_ID`, `_TOKEN` between the
    literal pieces); None if words of the message contain a stand-in."""
    sample = Message(
        checkin_id=0,
        incident_title=incident_title,
        drill=drill,
        purpose=purpose,
        token=_TOKEN,
        link=link_prefix + _TOKEN,
        language=language,
        sender_name=sender_name,
    )
    pieces = _SLOTS.split(_payload_json(sample, _ID).decode())
    slots = pieces[1::2]
    if sorted(slots) != _EXPECTED:
        return None
    pieces[1::2] = [_TOKEN if slot == _TOKEN_JSON else _ID for slot in slots]
    return tuple(pieces)


def push_topic(message: Message) -> str | None:
    """RFC 8030 Topic: a copy sent again replaces the first while it is still undelivered.

    (On the device the service worker's notification `tag` does the same for delivered ones.)
    Topics are at most 32 base64url characters: a digest of the message key.
    """
    if not message.key:
        return None
    return b64url_encode(hashlib.sha256(message.key.encode()).digest()[:24])


class WebPushChannel(Channel):
    name = "webpush"
    takes_more = True  # `send_stream` reads `len(items)` at every step
    # A window of 256 at 64 requests per push service: a chunk taken starts within four
    # request timeouts (10 s each), well inside `SAFE_INSERT_CLAIM_SECONDS`.
    claims_at_insert = True

    def reaches(self, person: User) -> bool:
        return bool(push_devices(person)) and push_sender() is not None

    def send(self, *, person: User, message: Message) -> SendResult:
        return self.send_many([(person, message)])[0]

    def window(self) -> int:
        return settings.SAFE_PUSH_IN_FLIGHT

    def send_stream(
        self, items: Sequence[tuple[User, Message]], window: SendWindow
    ) -> Generator[Ready, None, None]:
        """Push to every device of every person, overlapping the waits; clean up dead ones.

        A message counts as sent if any device accepted it; when none did, a device that
        may recover (429/5xx/network) makes it a retry, and all devices gone makes it gone.
        One PushStream keeps the window's requests in flight from this thread: a pool of
        threads blocking on a POST each cost half as much CPU again in GIL hand-offs and
        wake-ups (see PushStream). The slots freed since the last step are started together
        (`PushStream.start_many`: encrypted back to back). ITEMS may grow between two steps
        (`takes_more`): every loop reads how many there are.
        """
        sender = push_sender()
        if sender is None:
            yield [(i, NOT_CONFIGURED) for i in range(len(items))]
            return
        gone: list[int] = []
        with sender.stream(per_origin=settings.SAFE_PUSH_ORIGIN_CONCURRENCY) as stream:
            answers: dict[int, list[PushResult]] = {}  # per item: its devices' results so far
            unanswered: dict[int, int] = {}  # per item: its devices still in flight
            started = finished = 0
            while finished < len(items):
                ready: Ready = []
                pushes: list[Push] = []
                begun = started
                while started < len(items) and window.acquire(started):
                    answers[started] = []
                    devices = _pushes(started, *items[started])
                    unanswered[started] = len(devices)
                    pushes += devices
                    started += 1
                for key, exc in stream.start_many(pushes, ttl=MAX_TTL):
                    index, subscription = cast(tuple[int, int], key)
                    log.warning("push subscription %d cannot be sent to: %s", subscription, exc)
                    answers[index].append(PushResult("failed", None, None, str(exc)[:500]))
                    unanswered[index] -= 1
                for index in range(begun, started):
                    if not unanswered[index]:  # no device, or none could be started
                        del unanswered[index]
                        ready.append((index, _combine(answers.pop(index))))
                if not ready and not stream.pending():
                    if window.closed:
                        yield [(index, NOT_STARTED) for index in range(started, len(items))]
                        return
                    yield []  # every slot waits to be recorded: let the caller do it
                    continue
                for key, result in stream.results(wait=not ready):
                    index, subscription = cast(tuple[int, int], key)
                    answers[index].append(result)
                    if result.outcome == "gone":
                        gone.append(subscription)
                    unanswered[index] -= 1
                    if not unanswered[index]:
                        del unanswered[index]
                        ready.append((index, _combine(answers.pop(index))))
                finished += len(ready)
                yield ready
        if gone:
            PushSubscription.objects.filter(id__in=gone).delete()


def _pushes(index: int, person: User, message: Message) -> list[Push]:
    """MESSAGE for each of PERSON's devices, under keys (INDEX, subscription id)."""
    devices = push_devices(person)
    if not devices:
        return []
    payload = push_payload(message)
    urgency = "high" if message.purpose in CHECKIN_PURPOSES else "normal"
    topic = push_topic(message)
    return [
        Push(
            (index, sub.id), PushTarget(sub.endpoint, sub.p256dh, sub.auth), payload, urgency, topic
        )
        for sub in devices
    ]


def _combine(results: list[PushResult]) -> SendResult:
    """One outcome for a person from the outcomes of their devices."""
    if not results:
        return NO_SUBSCRIPTION
    if any(r.outcome == "sent" for r in results):
        return SENT
    errors = "; ".join(r.error for r in results)[:500]
    retries = [r for r in results if r.outcome == "retry"]
    if retries:
        waits = [r.retry_after for r in retries if r.retry_after is not None]
        return SendResult("retry", error=errors, retry_after=max(waits) if waits else None)
    if all(r.outcome == "gone" for r in results):
        return SendResult("gone", error=errors)
    return SendResult("failed", error=errors)
