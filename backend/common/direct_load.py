"""Model instances built from database rows without running `Model.__init__`."""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any, Self

from django.db import models
from django.db.models.base import ModelState


class DirectLoad(models.Model):
    """Abstract base for a model: rows from the database fill each instance's
    `__dict__` directly, as `Model.__init__` would have filled it.

    `Model.__init__` sets every column through its descriptor, and a foreign key's
    descriptor looks up the instance's related-object cache on the way: loading a fan-out
    batch (1,000 check-ins with their people, phones and push devices) took 16.9 ms of CPU
    that way and 10.4-11.0 ms this way. Only for models whose fields store their value and
    nothing else (plain columns, foreign keys: no file or custom descriptors) and that no
    `pre_init` or `post_init` receiver listens to, since `__init__` is what sends those
    (tests/platform/test_direct_load.py checks).
    """

    class Meta:
        abstract = True

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any
    ) -> Self:
        if kwargs:  # options of a later Django (6.0's fetch_mode): its own path
            return super().from_db(db, field_names, values, **kwargs)
        new = cls.__new__(cls)
        new.__dict__.update(zip(_attnames(cls, tuple(field_names)), values, strict=True))
        state = new._state = ModelState()
        state.adding = False
        state.db = db
        return new


@functools.cache
def _attnames(model: type[models.Model], field_names: tuple[str, ...]) -> list[str]:
    """The attributes a row's values go to: in the order of the concrete fields, the
    deferred ones left out (as `Model.from_db` reads them)."""
    return [field.attname for field in model._meta.concrete_fields if field.attname in field_names]
