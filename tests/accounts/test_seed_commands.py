import csv

import pytest
from django.core.management import CommandError, call_command

from backend.accounts.models import Place, User
from backend.geo.cells import cell_for_point
from backend.incidents.models import Incident
from backend.social.models import Friendship

pytestmark = pytest.mark.django_db


def test_seed_population_creates_people_places_and_mutual_friendships(tmp_path):
    out = tmp_path / "positions.csv"
    call_command("seed_population", people=300, friends=4, prefix="t", positions_out=str(out))
    assert User.objects.filter(email__startswith="t-").count() == 300
    assert Place.objects.count() == 300
    pairs = set(Friendship.objects.values_list("person_id", "friend_id"))
    assert pairs
    assert all((b, a) in pairs for a, b in pairs)
    with out.open() as f:
        row = next(csv.DictReader(f))
    place = Place.objects.get(person_id=int(row["person_id"]))
    assert place.cell == cell_for_point(lat=float(row["lat"]), lon=float(row["lon"]))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"people": 0}, "--people"),
        ({"people": 10, "bbox": "1,2,3"}, "--bbox"),
        ({"people": 10, "bbox": "50,2,40,3"}, "--bbox"),
        ({"people": 10, "friends": -1}, "--friends"),
    ],
)
def test_seed_population_refuses_bad_arguments(options, message):
    with pytest.raises(CommandError, match=message):
        call_command("seed_population", **options)
    assert not User.objects.exists()


def test_seed_demo_is_idempotent():
    call_command("seed_demo", crowd=20)
    call_command("seed_demo", crowd=20)
    assert User.objects.filter(email__endswith="@demo.safe").count() == 6
    assert Incident.objects.get().status == "draft"
    olivia = User.objects.get(email="olivia@demo.safe")
    assert olivia.is_operator


def test_every_seeded_person_has_exactly_one_first_place():
    call_command("seed_demo", crowd=20)

    people_with_places = set(Place.objects.values_list("person_id", flat=True))
    firsts = list(Place.objects.filter(is_first=True).values_list("person_id", flat=True))
    assert sorted(firsts) == sorted(people_with_places)
