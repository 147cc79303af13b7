"""Measure the email channel: one worker process asking N people by email through an SMTP
server whose every reply comes L ms late (a mail relay across a network).

    DEBUG=1 .venv/bin/python tests/bench/bench_email_channel.py --people 500 --latency-ms 20
    DEBUG=1 .venv/bin/python tests/bench/bench_email_channel.py --latency-ms 20 --slow 100:2000

The server is a minimal SMTP sink (asyncio, in a process of its own); `--slow N:MS` makes
the server's answer to one message in N (its "250 queued") come MS late instead. On each
connection the channel keeps open for a batch, a message costs four round trips (MAIL, RCPT,
DATA, the message); the channel has `SAFE_EMAIL_IN_FLIGHT` messages in flight, each thread
on its own connection. Uses a throw-away SQLite database.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


class Sink(asyncio.Protocol):
    """Just enough SMTP for smtplib: every reply LATENCY seconds after its command."""

    messages = 0  # in this process, over every connection

    def __init__(self, latency: float, slow: tuple[int, float] | None = None) -> None:
        self.latency = latency
        self.slow = slow
        self.buffer = b""
        self.in_data = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    return
                self.buffer = self.buffer[end + 5 :]
                self.in_data = False
                Sink.messages += 1
                late = self.slow is not None and Sink.messages % self.slow[0] == 0
                self._reply(b"250 queued\r\n", delay=self.slow[1] if self.slow and late else None)
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                return
            line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            verb = line[:4].upper()
            if verb == b"EHLO":
                self._reply(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                self.in_data = True
                self._reply(b"354 go on\r\n")
            elif verb == b"QUIT":
                self._reply(b"221 bye\r\n", close=True)
            else:  # HELO, MAIL, RCPT, RSET, NOOP
                self._reply(b"250 ok\r\n")

    def _reply(self, text: bytes, *, close: bool = False, delay: float | None = None) -> None:
        def write() -> None:
            if self.transport is not None and not self.transport.is_closing():
                self.transport.write(text)
                if close:
                    self.transport.close()

        asyncio.get_running_loop().call_later(self.latency if delay is None else delay, write)


def serve(
    port_out: multiprocessing.connection.Connection,
    latency: float,
    slow: tuple[int, float] | None = None,
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: Sink(latency, slow), "127.0.0.1", 0)
        port_out.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--slow", default="", metavar="N:MS", help="one answer in N, MS late")
    options = parser.parse_args()
    slow = None
    if options.slow:
        every, ms = options.slow.split(":")
        slow = (int(every), float(ms) / 1000)

    parent, child = multiprocessing.Pipe()
    sink = multiprocessing.Process(
        target=serve, args=(child, options.latency_ms / 1000, slow), daemon=True
    )
    sink.start()
    port = parent.recv()

    workdir = tempfile.mkdtemp(prefix="bench-email-")
    os.environ["SQLITE_PATH"] = str(Path(workdir) / "bench.sqlite3")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from backend.accounts.models import User
    from backend.checkins.models import CheckIn
    from backend.incidents.models import Incident
    from backend.notifications.services import deliveries_send_batch

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    call_command("migrate", verbosity=0)
    people = User.objects.bulk_create(
        User(email=f"b{n}@example.test", name=f"Person {n}") for n in range(options.people)
    )
    operator = User.objects.create(email="op@example.test", name="Operator")
    incident = Incident.objects.create(
        title="Paris attacks", status=Incident.Status.ACTIVE, created_by=operator
    )
    checkins = CheckIn.objects.bulk_create(CheckIn(incident=incident, person=p) for p in people)

    started, cpu = time.perf_counter(), time.process_time()
    outcomes = deliveries_send_batch(checkin_ids=[c.id for c in checkins])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    sink.terminate()
    sent = outcomes.get("sent", 0)
    print(
        f"{options.people} people by email, SMTP replies {options.latency_ms:g} ms late"
        + (f", one in {options.slow.replace(':', ' ')} ms late" if slow else "")
        + ": "
        f"{sent / elapsed:.0f} msg/s, {cpu / max(sent, 1) * 1000:.2f} ms CPU per message; "
        f"outcomes {outcomes}"
    )


if __name__ == "__main__":
    main()
