"""Small helpers for the statements on hot paths (outbox, counters, answers)."""

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Lookup


def in_ids(ids: Sequence[int]) -> tuple[str, list[Any]]:
    """A condition on a batch of IDS and its parameters: one array on PostgreSQL (an IN list
    of 500 placeholders cost more CPU to build and parse than the statement itself)."""
    return _in_values(ids, vendor=connection.vendor)


class InArray(Lookup):
    """`filter(InArray(F("id"), ids))`: `__in` with one array parameter on PostgreSQL.

    Django's client-side binding turns each of an `__in`'s values into a literal in Python:
    for the thousand ids of a fan-out batch that was 15 % of a push worker's CPU (py-spy).
    """

    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        condition, params = _in_values(self.rhs, vendor=connection.vendor)
        return f"{lhs} {condition}", (*lhs_params, *params)


def plan_by_keys() -> None:
    """For the rest of the current transaction, have PostgreSQL find rows through an index.

    For the batch statements that name their rows (ids, answer keys): a crisis fills the answer
    tables faster than ANALYZE runs, and with statistics from when they were nearly empty the
    planner read the whole of `checkins_response` twice for every batch the drainer recorded
    (seen keys, latest answers): 0.13 ms of server CPU per answer at 1,600 answers/s over a
    table of 150,000, growing with it. Not a prohibition: a statement with no index to use
    still scans. Call it inside `transaction.atomic()` (outside, SET LOCAL does nothing).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")


def _in_values(values: Iterable[int], *, vendor: str) -> tuple[str, list[Any]]:
    """`= ANY(%s)` and one array parameter on PostgreSQL, else `IN (%s, ...)` and one each."""
    values = list(values)
    if vendor == "postgresql":
        literal, kind = int_array(values)
        return f"= ANY(%s::{kind}[])", [literal]
    return f"IN ({', '.join(['%s'] * len(values))})", values


def int_array(values: list[int]) -> tuple[str, str]:
    """VALUES as a PostgreSQL array literal, and the integer type psycopg would give them.

    psycopg quotes a list one element at a time, in Python: 0.55 ms for a fan-out batch's
    1,000 ids, against 0.09 for this join. The type is the one psycopg picks (the smallest
    that holds them), so the planner sees the statement it saw before.
    """
    low, high = (min(values), max(values)) if values else (0, 0)
    kind = next(kind for kind, bound in _INT_TYPES if -bound <= low and high < bound)
    return "{" + ",".join(map(str, values)) + "}", kind


_INT_TYPES = (("int2", 2**15), ("int4", 2**31), ("int8", 2**63))
