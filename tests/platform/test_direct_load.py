"""`DirectLoad` models load from the database exactly as Django's own `Model.from_db` would."""

from typing import Any

import pytest
from django.apps import apps
from django.db.models import Model
from django.db.models.signals import post_init, pre_init
from django.utils import timezone

from backend.accounts.models import User
from backend.checkins.models import CheckIn
from backend.common.direct_load import DirectLoad
from backend.incidents.models import Incident
from backend.notifications.models import Phone
from tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

DIRECT = [model for model in apps.get_models() if issubclass(model, DirectLoad)]


def as_django_builds(instance: Model, field_names: list[str], values: list[Any]) -> Model:
    """What `Model.from_db` (through `Model.__init__`) makes of the same row."""
    return Model.from_db.__func__(type(instance), "default", field_names, values)  # type: ignore[attr-defined]


def assert_same(direct: Model, django: Model) -> None:
    state = {k: v for k, v in vars(django).items() if k != "_state"}
    assert {k: v for k, v in vars(direct).items() if k != "_state"} == state
    assert (direct._state.db, direct._state.adding) == (django._state.db, django._state.adding)


def test_the_fan_out_models_load_directly() -> None:
    assert {CheckIn, User, Phone} <= set(DIRECT)


@pytest.mark.parametrize("model", DIRECT, ids=lambda model: model.__name__)
def test_no_init_signal_listens_to_a_direct_load_model(model: type[Model]) -> None:
    # DirectLoad skips `Model.__init__`, which is what sends them: a receiver would never run.
    assert not pre_init.has_listeners(model)
    assert not post_init.has_listeners(model)


def test_a_whole_row_loads_as_django_loads_it() -> None:
    person = PersonFactory(name="Zoé", channel_order=["sms", "email"])
    Phone.objects.create(person=person, number="+33612345678", confirmed_at=timezone.now())
    incident = Incident.objects.create(title="Test", created_by=person)
    checkin = CheckIn.objects.create(incident=incident, person=person)

    loaded = CheckIn.objects.select_related("person__phone").get(id=checkin.id)

    for instance in (loaded, loaded.person, loaded.person.phone):
        names = [field.attname for field in type(instance)._meta.concrete_fields]
        values = [getattr(instance, name) for name in names]
        rebuilt = type(instance).from_db("default", names, values)
        assert_same(rebuilt, as_django_builds(instance, names, values))
    assert loaded.person.channel_order == ["sms", "email"]
    assert loaded.person.phone.number == "+33612345678"


def test_a_row_with_deferred_fields_loads_them_later() -> None:
    person = PersonFactory(name="Zoé")
    incident = Incident.objects.create(title="Test", created_by=person)
    checkin = CheckIn.objects.create(incident=incident, person=person, note="on my way")

    loaded = CheckIn.objects.defer("note", "created_at").get(id=checkin.id)

    assert loaded.get_deferred_fields() == {"note", "created_at"}
    names = [
        f.attname for f in CheckIn._meta.concrete_fields if f.attname not in {"note", "created_at"}
    ]
    values = [getattr(loaded, name) for name in names]
    assert_same(CheckIn.from_db("default", names, values), as_django_builds(loaded, names, values))
    assert loaded.note == "on my way"  # fetched on first use, as Django does
    assert loaded.person == person  # the foreign key resolves
    loaded.status = CheckIn.Status.SAFE
    loaded.save(update_fields=["status"])  # an update, not an insert: the state says loaded
    assert CheckIn.objects.get(id=checkin.id).status == CheckIn.Status.SAFE
