"""Fixtures for the console: a draft over Paris and a second operator."""

import pytest

from backend.incidents.services import incident_create
from tests.factories import PARIS_POLYGON, make_operator


@pytest.fixture
def oscar(db):
    """A second operator, for the two-operator rule."""
    return make_operator("oscar@example.org", "Oscar")


@pytest.fixture
def draft(olivia, alice, charlie):
    """A draft over central Paris, where alice and charlie live."""
    return incident_create(
        creator=olivia, title="Paris attacks", regions=[{"geometry": PARIS_POLYGON}]
    )
