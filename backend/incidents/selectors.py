"""Reads for incidents: lists, audience size."""

from django.db import connection
from django.db.models import QuerySet

from backend.accounts.models import User
from backend.common.errors import NotFound

from .models import Incident

# The incident's cell ranges, merged (its regions may overlap, and a place must match once),
# per GROUP: "0" for the whole incident, "region_id" for each region on its own.
RANGES_CTE = """
ordered AS (
    SELECT {group} AS grp, lo, hi, MAX(hi) OVER (
        PARTITION BY {group} ORDER BY lo, hi ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    ) AS reach
    FROM incidents_cellrange
    WHERE incident_id = %(incident)s
), islands AS (
    SELECT grp, lo, hi, SUM(CASE WHEN reach IS NULL OR lo > reach THEN 1 ELSE 0 END) OVER (
        PARTITION BY grp ORDER BY lo, hi ROWS UNBOUNDED PRECEDING
    ) AS island
    FROM ordered
), ranges AS (
    SELECT grp, MIN(lo) AS lo, MAX(hi) AS hi FROM islands GROUP BY grp, island
)"""

# A later place of a person (not `Place.is_first`) is the one that counts them only if no
# older place of theirs is inside the same ranges. Few places are later ones, and their
# partial index is small.
NO_OLDER_PLACE_INSIDE = """NOT EXISTS (
    SELECT 1
    FROM accounts_place q
    JOIN ranges r2 ON r2.grp = r.grp AND q.cell BETWEEN r2.lo AND r2.hi
    WHERE q.person_id = p.person_id AND q.id < p.id
)"""

# Active people with a place in any of the incident's cell ranges, without sorting a city's
# person ids for a DISTINCT (that sort was most of the cost: 550-590 ms for 1M people on a
# slow VM, twice a plain count). A person's first place (`Place.is_first`: none of theirs is
# older) counts them, and so does a later place with no older one inside. Deactivated people
# are subtracted: they are few, found through their partial index.
AUDIENCE_COUNT_SQL = f"""
WITH {RANGES_CTE.format(group="0")}
SELECT (
    SELECT COUNT(*)
    FROM ranges r
    JOIN accounts_place p ON p.cell BETWEEN r.lo AND r.hi
    WHERE p.is_first
) + (
    SELECT COUNT(*)
    FROM ranges r
    JOIN accounts_place p ON p.cell BETWEEN r.lo AND r.hi
    WHERE NOT p.is_first AND {NO_OLDER_PLACE_INSIDE}
) - (
    SELECT COUNT(DISTINCT p.person_id)
    FROM accounts_user u
    JOIN accounts_place p ON p.person_id = u.id
    WHERE NOT u.is_active AND EXISTS (
        SELECT 1 FROM ranges r WHERE p.cell BETWEEN r.lo AND r.hi
    )
)
"""  # noqa: S608 - built from constants only

# The same people, one row each (GRP, person id), for the queries that need to know who:
# first places are read from an index that holds the person (`place_first_cell_person`).
AUDIENCE_CTE = f"""{RANGES_CTE}, inside AS (
    SELECT r.grp, p.person_id
    FROM ranges r
    JOIN accounts_place p ON p.cell BETWEEN r.lo AND r.hi
    WHERE p.is_first
    UNION ALL
    SELECT r.grp, p.person_id
    FROM ranges r
    JOIN accounts_place p ON p.cell BETWEEN r.lo AND r.hi
    WHERE NOT p.is_first AND {NO_OLDER_PLACE_INSIDE}
), audience AS (
    SELECT grp, person_id FROM inside
    WHERE person_id NOT IN (SELECT id FROM accounts_user WHERE NOT is_active)
)"""  # noqa: S608 - built from constants only


def incidents_visible(*, viewer: User) -> QuerySet[Incident]:
    """Operators see everything; others see incidents once activated (they are public)."""
    incidents = Incident.objects.prefetch_related("regions")
    if viewer.is_operator:
        return incidents
    return incidents.exclude(status=Incident.Status.DRAFT)


def access_incident(*, viewer: User, incident_id: int) -> Incident:
    """The incident if VIEWER may see it, otherwise 404."""
    incident = incidents_visible(viewer=viewer).filter(id=incident_id).first()
    if incident is None:
        raise NotFound("No such incident.")
    return incident


def incident_audience_count(*, incident_id: int) -> int:
    """How many distinct active people have a place inside the incident's regions."""
    with connection.cursor() as cursor:
        cursor.execute(AUDIENCE_COUNT_SQL, {"incident": incident_id})
        (count,) = cursor.fetchone()
    return int(count)
