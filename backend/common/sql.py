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


def _in_values(values: Iterable[Any], *, vendor: str) -> tuple[str, list[Any]]:
    """`= ANY(%s)` and one list parameter on PostgreSQL, else `IN (%s, ...)` and one each."""
    values = list(values)
    if vendor == "postgresql":
        return "= ANY(%s)", [values]
    return f"IN ({', '.join(['%s'] * len(values))})", values
