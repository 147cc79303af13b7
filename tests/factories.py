"""Factories and persona helpers (factory_boy)."""

from collections.abc import Iterable

import factory
from django.contrib.auth.models import Group

from backend.accounts.models import Place, User
from backend.geo.cells import cell_for_point
from backend.incidents.apps import OPERATORS_GROUP, ensure_operators_group
from backend.social.models import Friendship

PARIS = (48.8566, 2.3522)  # Hôtel de Ville
PASSWORD = "correct horse battery staple"

# Central Paris, roughly inside the Boulevard Périphérique, as GeoJSON [lon, lat].
PARIS_POLYGON = {
    "type": "Polygon",
    "coordinates": [
        [
            [2.2795, 48.8350],
            [2.3300, 48.8160],
            [2.3950, 48.8260],
            [2.4150, 48.8500],
            [2.4080, 48.8800],
            [2.3700, 48.9000],
            [2.3200, 48.9010],
            [2.2800, 48.8790],
            [2.2550, 48.8550],
            [2.2795, 48.8350],
        ]
    ],
}


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.org")
    name = factory.Sequence(lambda n: f"Person {n}")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def make_person(
    email: str, name: str, *, places: Iterable[tuple[float, float]] = (), language: str = "en"
) -> User:
    person = PersonFactory(email=email, name=name, language=language)
    for n, (lat, lon) in enumerate(places):
        cell = cell_for_point(lat=lat, lon=lon)
        Place.objects.create(person=person, cell=cell, is_first=n == 0)  # as place_add does
    return person


def make_operator(email: str, name: str) -> User:
    ensure_operators_group()
    person = make_person(email, name)
    person.groups.add(Group.objects.get(name=OPERATORS_GROUP))
    return User.objects.get(id=person.id)  # fresh, without the cached permissions


def befriend(a: User, b: User) -> None:
    Friendship.objects.bulk_create(
        [Friendship(person=a, friend=b), Friendship(person=b, friend=a)], ignore_conflicts=True
    )
