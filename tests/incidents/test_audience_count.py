"""The audience count and the console's preview against brute-force counts: overlapping
regions, several places per person, first places deleted, deactivated people, places marked
first or not, people with and without push, SMS or email."""

import random

import pytest
from django.utils import timezone

from backend.accounts.models import Place, User
from backend.accounts.services import place_add, place_delete
from backend.console.selectors import audience_preview
from backend.incidents.models import AffectedRegion, CellRange, Incident
from backend.incidents.selectors import incident_audience_count
from backend.notifications.models import Phone, PushSubscription
from tests.factories import PARIS, PersonFactory

pytestmark = pytest.mark.django_db


def _incident(olivia, ranges: list[tuple[int, int]], regions: int = 3) -> Incident:
    incident = Incident.objects.create(title="Audience", created_by=olivia)
    areas = [
        AffectedRegion.objects.create(incident=incident, area_km2=1, cell_count=1, summary="r")
        for _ in range(regions)
    ]
    CellRange.objects.bulk_create(
        CellRange(region=areas[n % regions], incident=incident, lo=lo, hi=hi)
        for n, (lo, hi) in enumerate(ranges)
    )
    return incident


def _inside(incident: Incident, **ranges_filter) -> set[int]:
    """Active people with a place in the incident's ranges (those matching RANGES_FILTER)."""
    ranges = list(
        CellRange.objects.filter(incident=incident, **ranges_filter).values_list("lo", "hi")
    )
    return {
        place.person_id
        for place in Place.objects.filter(person__is_active=True)
        if any(lo <= place.cell <= hi for lo, hi in ranges)
    }


def _brute_force(incident: Incident) -> int:
    return len(_inside(incident))


def _random_people(rng: random.Random) -> list[User]:
    """40 people with 0-3 places each, some first places deleted, 5 deactivated."""
    people = [PersonFactory(password="!") for _ in range(40)]
    for person in people:
        for n in range(rng.choice([0, 1, 1, 1, 2, 3])):
            # The service marks the first place; the rows made directly are marked first or
            # not at random only where that is true (False is always allowed).
            first = n == 0 and rng.random() < 0.7
            Place.objects.create(person=person, cell=rng.randrange(0, 200), is_first=first)
    for place in rng.sample(list(Place.objects.all()), 8):
        place.delete()  # some people lose their first place: the others stay not-first
    for person in rng.sample(people, 5):
        User.objects.filter(id=person.id).update(is_active=False)
    return people


def _random_ranges(rng: random.Random) -> list[tuple[int, int]]:
    ranges = []
    for _ in range(rng.randrange(1, 12)):
        lo = rng.randrange(0, 200)
        ranges.append((lo, lo + rng.randrange(0, 40)))  # overlapping and adjacent ones too
    return ranges


@pytest.mark.parametrize("seed", range(8))
def test_the_count_is_exact_on_random_people_and_overlapping_regions(olivia, seed):
    rng = random.Random(seed)
    _random_people(rng)
    incident = _incident(olivia, _random_ranges(rng))

    assert incident_audience_count(incident_id=incident.id) == _brute_force(incident)


@pytest.mark.parametrize("seed", range(8))
def test_the_preview_is_exact_per_region_and_per_channel(olivia, seed):
    rng = random.Random(seed)
    people = _random_people(rng)
    for person in rng.sample(people, 15):
        for n in range(rng.choice([1, 2])):  # some people have two devices
            endpoint = f"https://push.example/{person.id}/{n}"
            PushSubscription.objects.create(person=person, endpoint=endpoint, p256dh="k", auth="a")
    for n, person in enumerate(rng.sample(people, 12)):
        confirmed = timezone.now() if n % 3 else None  # an unconfirmed number does not count
        Phone.objects.create(person=person, number=f"+3360000{n:04d}", confirmed_at=confirmed)
    User.objects.filter(id=rng.choice(people).id).update(email="")
    incident = _incident(olivia, _random_ranges(rng), regions=rng.choice([1, 3]))

    preview = audience_preview(incident_id=incident.id)

    inside = _inside(incident)
    push = set(PushSubscription.objects.values_list("person_id", flat=True))
    sms = set(Phone.objects.exclude(confirmed_at=None).values_list("person_id", flat=True))
    email = set(User.objects.exclude(email="").values_list("id", flat=True))
    assert (preview["total"], preview["push"], preview["sms"], preview["email"]) == (
        len(inside),
        len(inside & push),
        len(inside & sms),
        len(inside & email),
    )
    regions = AffectedRegion.objects.filter(incident=incident).order_by("id")
    assert [r["people"] for r in preview["regions"]] == [
        len(_inside(incident, region=region)) for region in regions
    ]


def test_a_person_with_every_place_inside_counts_once(olivia):
    alice, bob = PersonFactory(password="!"), PersonFactory(password="!")
    for lat, lon in [PARIS, (48.86, 2.35), (48.85, 2.34)]:
        place_add(person=alice, label="home", lat=lat, lon=lon)
    place_add(person=bob, label="home", lat=45.76, lon=4.84)  # Lyon, outside
    place_add(person=bob, label="work", lat=48.86, lon=2.35)  # inside, not his first
    cells = sorted(Place.objects.values_list("cell", flat=True))
    incident = _incident(olivia, [(cells[0], cells[-1]), (cells[0], cells[1])])

    firsts = Place.objects.filter(is_first=True).values_list("person", flat=True)
    assert sorted(firsts) == sorted([alice.id, bob.id])
    assert incident_audience_count(incident_id=incident.id) == 2

    first = alice.places.get(is_first=True)
    place_delete(person=alice, place_id=first.id)
    assert incident_audience_count(incident_id=incident.id) == 2
