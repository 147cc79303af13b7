"""Record answers from the write-behind stream in PostgreSQL (see checkins/answer_drainer.py).

manage.py drain_answers               # the long-running drainer (make run, deploy/)
manage.py drain_answers --until-empty # record what is queued now, then exit
"""

import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from backend.checkins.answer_drainer import RECLAIM_IDLE_MS, Drainer, drain_until_empty
from backend.common.gc_tuning import tune_for_serving


class Command(BaseCommand):
    help = "Record answers queued in the Redis stream (the answers write-behind)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--until-empty", action="store_true", help="drain what is queued now, then exit"
        )
        parser.add_argument("--timeout", type=float, default=60.0, help="with --until-empty")
        parser.add_argument(
            "--reclaim-idle-ms",
            type=int,
            default=RECLAIM_IDLE_MS,
            help="take over answers pending this long on another (dead) drainer",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["until_empty"]:
            count = drain_until_empty(timeout=options["timeout"])
            self.stdout.write(f"{count} answers drained")
            return
        tune_for_serving()
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        # A clean stop finishes the batch in hand, then withdraws: the web writes new answers
        # itself from then on, and nothing is left half-recorded.
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        drainer = Drainer(reclaim_idle_ms=options["reclaim_idle_ms"])
        self.stdout.write(f"draining answers as {drainer.name} from {drainer.keys.stream}")
        drainer.run(stop=stop)
