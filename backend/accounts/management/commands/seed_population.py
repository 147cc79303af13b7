"""Seed N synthetic people spread over a bounding box, with friendships, fast.

On PostgreSQL rows go in with COPY; on SQLite with batched inserts. People get an
unusable password (they cannot sign in) and one home place each.
"""

import csv
import json
import random
import time
from collections.abc import Iterator
from typing import Any

import h3
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from backend.accounts.models import default_channel_order
from backend.geo.cells import RESOLUTION

CHUNK = 50_000


def _bbox(value: str) -> tuple[float, float, float, float]:
    try:
        south, west, north, east = (float(part) for part in value.split(","))
    except ValueError as exc:
        raise CommandError("--bbox takes four numbers: south,west,north,east") from exc
    if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
        raise CommandError("--bbox must have south < north within ±90 and west < east within ±180")
    return south, west, north, east


class Command(BaseCommand):
    help = "Create N synthetic people with a home place in a bounding box, and friendships."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--people", type=int, required=True, help="how many people")
        parser.add_argument(
            "--bbox",
            default="48.80,2.22,48.92,2.48",
            help="south,west,north,east (default: Paris and its inner suburbs)",
        )
        parser.add_argument("--friends", type=int, default=5, help="friends per person (≈)")
        parser.add_argument("--seed", type=int, default=2015)
        parser.add_argument("--prefix", default="", help="email prefix (default: a fresh one)")
        parser.add_argument(
            "--positions-out",
            default="",
            help="write person_id,lat,lon to this CSV (for coverage checks; never stored)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        count = options["people"]
        if not 1 <= count <= 50_000_000:
            raise CommandError("--people must be between 1 and 50,000,000")
        if options["friends"] < 0 or options["friends"] > 1000:
            raise CommandError("--friends must be between 0 and 1,000")
        south, west, north, east = _bbox(options["bbox"])
        rng = random.Random(options["seed"])  # noqa: S311 - synthetic data, not secrets
        prefix = options["prefix"] or f"pop{int(time.time() * 1000):x}"
        started = time.monotonic()
        positions = [(rng.uniform(south, north), rng.uniform(west, east)) for _ in range(count)]
        with transaction.atomic():
            ids = self._insert_people(prefix, count)
            self._progress("people", count, started)
            self._insert_places(ids, positions)
            self._progress("places", count, started)
            pairs = self._insert_friendships(ids, options["friends"], rng)
            self._progress("friendships", pairs, started)
        if options["positions_out"]:
            with open(options["positions_out"], "w", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(["person_id", "lat", "lon"])
                writer.writerows(
                    (pid, lat, lon) for pid, (lat, lon) in zip(ids, positions, strict=True)
                )
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {count:,} people ({prefix}*) in {time.monotonic() - started:.1f} s"
            )
        )

    def _progress(self, what: str, count: int, started: float) -> None:
        self.stdout.write(f"  {what}: {count:,} rows after {time.monotonic() - started:.1f} s")

    def _copy(self, table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> None:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
                with raw.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
        batch: list[tuple[Any, ...]] = []
        with connection.cursor() as cursor:
            for row in rows:
                batch.append(row)
                if len(batch) >= CHUNK:
                    cursor.executemany(sql, batch)
                    batch.clear()
            if batch:
                cursor.executemany(sql, batch)

    def _insert_people(self, prefix: str, count: int) -> list[int]:
        now = timezone.now()
        channels = json.dumps(default_channel_order())
        columns = [
            "email", "name", "password", "language", "channel_order", "friend_alerts",
            "is_active", "is_staff", "is_superuser", "date_joined",
        ]  # fmt: skip
        rows = (
            (f"{prefix}-{n}@example.test", f"Person {n}", "!", "fr" if n % 3 else "en",
             channels, True, True, False, False, now)
            for n in range(count)
        )  # fmt: skip
        self._copy("accounts_user", columns, rows)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM accounts_user WHERE email LIKE %s ORDER BY id", [f"{prefix}-%"]
            )
            return [row[0] for row in cursor.fetchall()]

    def _insert_places(self, ids: list[int], positions: list[tuple[float, float]]) -> None:
        now = timezone.now()
        rows = (
            (pid, "home", h3.str_to_int(h3.latlng_to_cell(lat, lon, RESOLUTION)), now, True)
            for pid, (lat, lon) in zip(ids, positions, strict=True)
        )  # each a new person's only place, so their first
        columns = ["person_id", "label", "cell", "created_at", "is_first"]
        self._copy("accounts_place", columns, rows)

    def _insert_friendships(self, ids: list[int], per_person: int, rng: random.Random) -> int:
        if len(ids) < 2 or per_person == 0:
            return 0
        pairs: set[tuple[int, int]] = set()
        for index, person in enumerate(ids):
            for _ in range(max(per_person // 2, 1)):
                # Mostly near neighbours in id order: friends cluster like real ones.
                other = ids[min(len(ids) - 1, max(0, index + rng.randint(-50, 50)))]
                if other != person:
                    pairs.add((person, other))
                    pairs.add((other, person))
        now = timezone.now()
        self._copy(
            "social_friendship",
            ["person_id", "friend_id", "created_at"],
            ((a, b, now) for a, b in pairs),
        )
        return len(pairs)
