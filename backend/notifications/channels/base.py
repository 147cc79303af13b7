"""The small interface every channel implements."""

import logging
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar, Literal, NamedTuple

from backend.accounts.models import User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FriendNews:
    """One friend's answer, as a friend alert tells it."""

    name: str
    status: str
    incident_title: str


class Message(NamedTuple):
    """What to tell one person, in their language.

    Purposes `ask`, `escalation`, `reminder` and `nudge` are about the person's own
    check-in (CHECKIN_ID, TOKEN); `friend_alert` carries FRIENDS instead (CHECKIN_ID 0).
    A named tuple: a fan-out makes one per person, and a frozen dataclass took 1.5 µs to
    build against 0.5.
    """

    checkin_id: int
    incident_title: str
    drill: bool
    purpose: str
    token: str
    link: str
    language: str
    # Who asked, for a nudge.
    sender_name: str = ""
    friends: tuple[FriendNews, ...] = ()
    # The same for every send of one outbox row (check-in, purpose, seq): a copy sent again
    # after a worker died carries it too, so push services, mail clients and SMS providers
    # can drop it (Topic / notification tag, Message-ID, Idempotency-Key).
    key: str = ""


@dataclass(frozen=True)
class SendResult:
    """How a send went: `retry` may succeed later, `gone` means the address is dead."""

    outcome: Literal["sent", "retry", "failed", "gone"]
    error: str = ""
    retry_after: float | None = None


# What a send stream yields: the results known so far, as (index into the items, result).
Ready = list[tuple[int, SendResult]]
NOT_STARTED = SendResult("retry", error="not sent: the send was stopped")


class SendWindow:
    """Bounds the messages a worker has started sending but not yet recorded.

    A channel takes a slot before it starts each message; the outbox hands the slots back
    (`recorded`) once the results are committed. A worker killed at any instant therefore
    holds at most SIZE messages that the provider may have accepted while the outbox still
    says 'sending' (they go out again after the claim lease): the duplicates a kill can cause.
    Taking a slot never waits: a channel with none free yields what it has, so the caller
    records it and gives slots back. Used by the caller's thread only.
    """

    def __init__(self, size: int) -> None:
        self.size = max(size, 1)
        self._held: set[int] = set()
        self.closed = False

    def acquire(self, index: int) -> bool:
        """Take a slot for item INDEX if one is free (and the window is open)."""
        if self.closed or len(self._held) >= self.size:
            return False
        self._held.add(index)
        return True

    def held(self) -> int:
        """Slots taken and not yet given back: messages started and not yet recorded."""
        return len(self._held)

    def recorded(self, indexes: Iterable[int]) -> None:
        """Give back the slots of items whose results are now committed."""
        self._held.difference_update(indexes)

    def close(self) -> None:
        """Stop: no message starts after this."""
        self.closed = True


class Channel:
    name: ClassVar[str]
    # Whether `send_stream` reads how many items there are as it goes, so that the caller
    # may append more between two steps of the stream (the outbox claims ahead: a slow
    # answer then holds its own slot, not the rest of a chunk).
    takes_more: ClassVar[bool] = False
    # Whether a fan-out holds this channel's first asks with one claim per batch rather
    # than an outbox row each (`FanOutClaim`, see `deliveries_send_batch`). Only where a
    # chunk taken is started within a few request timeouts: the messages of a dead worker's
    # claim wait `SAFE_INSERT_CLAIM_SECONDS`.
    claims_at_insert: ClassVar[bool] = False

    def reaches(self, person: User) -> bool:
        """Whether PERSON has an address on this channel."""
        raise NotImplementedError

    def send(self, *, person: User, message: Message) -> SendResult:
        """Send MESSAGE; must not raise for a delivery failure (return a SendResult)."""
        raise NotImplementedError

    def window(self) -> int:
        """Messages in flight at once: started, maybe accepted, not yet recorded (see
        `SendWindow`). This default sends one at a time, each recorded before the next."""
        return 1

    def send_stream(
        self, items: Sequence[tuple[User, Message]], window: SendWindow
    ) -> Generator[Ready, None, None]:
        """Send ITEMS, yielding results as soon as they are known (in any order).

        The caller records each yielded list and then calls `window.recorded`; a message
        starts only once it has a slot. This default sends one at a time in the caller's
        thread: each result is yielded (and so recorded) before the next message starts.
        """
        for index, (person, message) in enumerate(items):
            while not window.acquire(index):
                if window.closed:
                    return
                yield []  # all slots wait to be recorded: let the caller do it
            yield [(index, self.send(person=person, message=message))]

    def send_many(self, items: Sequence[tuple[User, Message]]) -> list[SendResult]:
        """Send several messages, one result each in order (nothing recorded in between)."""
        results = [NOT_STARTED] * len(items)
        window = SendWindow(len(items))
        for ready in self.send_stream(items, window):
            for index, result in ready:
                results[index] = result
        return results


_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def thread_pool(name: str, size: int) -> ThreadPoolExecutor:
    """The process's pool of SIZE threads for channel NAME, started once (not per batch)."""
    with _pools_lock:
        pool = _pools.get(name)
        if pool is None:
            pool = _pools[name] = ThreadPoolExecutor(size, thread_name_prefix=name)
        return pool


def stream_in_threads(
    pool: Executor,
    items: Sequence[object],
    window: SendWindow,
    job: Callable[[int], Callable[[], SendResult]],
) -> Generator[Ready, None, None]:
    """Send each of ITEMS on POOL once it has a slot of WINDOW; yield the results as they
    come (all that are ready at once); the caller commits them when it sees fit and gives
    the slots back, and the next items start on the next iteration.

    JOB(index) runs in the caller's thread (it may read the database) and returns what a
    pool thread runs (which must not). ITEMS may grow between two steps (`takes_more`): every
    loop reads how many there are. Items are handed to the pool only when a slot is free,
    so no pool thread ever waits for the caller.
    """
    done: queue.SimpleQueue[tuple[int, SendResult]] = queue.SimpleQueue()

    def run(index: int, send: Callable[[], SendResult]) -> None:
        try:
            result = send()
        except Exception as exc:  # a bug must not leave the caller waiting for ever
            log.exception("send %d of %d crashed", index, len(items))
            result = SendResult("retry", error=repr(exc)[:500])
        done.put((index, result))

    started = finished = 0
    while finished < len(items):
        while started < len(items) and window.acquire(started):
            try:
                send = job(started)
            except Exception as exc:  # others may be in flight: a retry of its own, not a crash
                log.exception("message %d of %d could not be built", started, len(items))
                done.put((started, SendResult("retry", error=repr(exc)[:500])))
            else:
                pool.submit(run, started, send)
            started += 1
        if started == finished:  # nothing in flight
            if window.closed:
                yield [(index, NOT_STARTED) for index in range(started, len(items))]
                return
            yield []  # every slot waits to be recorded: let the caller do it
            continue
        ready = [done.get()]
        while True:
            try:
                ready.append(done.get_nowait())
            except queue.Empty:
                break
        finished += len(ready)
        yield ready
