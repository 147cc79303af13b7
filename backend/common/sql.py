"""Small helpers for the statements on hot paths (outbox, counters, answers)."""

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Lookup


def in_ids(ids: Sequence[int]) -> tuple[str, list[Any]]:
    """A condition on a batch of IDS and its parameters: one array on PostgreSQL (an IN list
    of 500 placeholders cost more CPU to build and parse than the statement itself)."""
    if connection.vendor == "postgresql":
        return "= ANY(%s)", [list(ids)]
    return f"IN ({', '.join(['%s'] * len(ids))})", list(ids)


class InArray(Lookup):
    """`filter(InArray(F("id"), ids))`: `__in` with one array parameter on PostgreSQL.

    Django's client-side binding turns each of an `__in`'s values into a literal in Python:
    for the thousand ids of a fan-out batch that was 15 % of a push worker's CPU (py-spy).
    """

    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids = list(self.rhs)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", (*lhs_params, ids)
        return f"{lhs} IN ({', '.join(['%s'] * len(ids))})", (*lhs_params, *ids)
