"""Create the demo accounts and a draft incident over central Paris (idempotent)."""

from typing import Any

from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from backend.accounts.models import User
from backend.accounts.services import place_add
from backend.incidents.apps import OPERATORS_GROUP, ensure_operators_group
from backend.incidents.models import Incident
from backend.incidents.services import incident_create
from backend.social.models import Friendship

DEMO_PASSWORD = "safe-and-sound-demo"  # noqa: S105 - published in the README

# email, name, language, places (lat, lon), operator?
PEOPLE = [
    ("olivia@demo.safe", "Olivia (operator)", "en", [], True),
    ("alice@demo.safe", "Alice Martin", "en", [(48.8566, 2.3522)], False),  # Hôtel de Ville
    ("bob@demo.safe", "Bob Durand", "fr", [(45.7640, 4.8357)], False),  # Lyon
    ("chloe@demo.safe", "Chloé Bernard", "fr", [(48.8634, 2.3700)], False),  # Bataclan area
    ("david@demo.safe", "David Petit", "en", [(48.8414, 2.2530)], False),  # Boulogne
    ("charlie@demo.safe", "Charlie Stranger", "en", [(48.8606, 2.3376)], False),  # Louvre
]
FRIENDS = [
    ("alice@demo.safe", "bob@demo.safe"),
    ("alice@demo.safe", "chloe@demo.safe"),
    ("bob@demo.safe", "chloe@demo.safe"),
    ("bob@demo.safe", "david@demo.safe"),
]
PARIS = {
    "type": "Polygon",
    "coordinates": [
        [
            [2.2795, 48.8350], [2.3300, 48.8160], [2.3950, 48.8260], [2.4150, 48.8500],
            [2.4080, 48.8800], [2.3700, 48.9000], [2.3200, 48.9010], [2.2800, 48.8790],
            [2.2550, 48.8550], [2.2795, 48.8350],
        ]
    ],
}  # fmt: skip


class Command(BaseCommand):
    help = "Create demo people, friendships and a draft incident over Paris (safe to re-run)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--crowd", type=int, default=300, help="extra synthetic people")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if User.objects.filter(email="olivia@demo.safe").exists():
            self.stdout.write("Demo data already present.")
            return
        ensure_operators_group()
        operators = Group.objects.get(name=OPERATORS_GROUP)
        people: dict[str, User] = {}
        for email, name, language, places, is_operator in PEOPLE:
            person = User.objects.create_user(
                email, DEMO_PASSWORD, name=name, language=language, is_staff=is_operator
            )
            if is_operator:
                person.groups.add(operators)
            for lat, lon in places:
                # As a person adds a place: the first is marked first (the fast audience count).
                place_add(person=person, label="", lat=lat, lon=lon)
            people[email] = person
        for a, b in FRIENDS:
            Friendship.objects.create(person=people[a], friend=people[b])
            Friendship.objects.create(person=people[b], friend=people[a])
        if options["crowd"]:
            call_command("seed_population", people=options["crowd"], prefix="crowd", friends=4)
        incident_create(
            creator=people["olivia@demo.safe"],
            title="Paris attacks (demo)",
            description="Shootings reported in several places in central Paris.",
            kind=Incident.Kind.ATTACK,
            drill=True,
            regions=[{"geometry": PARIS}],
        )
        self.stdout.write(self.style.SUCCESS(f"Demo data created; password: {DEMO_PASSWORD}"))
