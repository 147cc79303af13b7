"""Web processes, Celery pool processes and the drainer run with the collector tuned."""

import gc
import runpy
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery.signals import worker_process_init

from backend.common.gc_tuning import YOUNG_GENERATION, tune_for_serving

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def collector() -> Iterator[None]:
    """Put the test process's collector back as it was."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_tuning_freezes_what_start_up_made_and_widens_the_young_generation(collector):
    older = gc.get_threshold()[1:]
    made_at_start = [object()]  # a container: tracked by the collector
    assert any(o is made_at_start for o in gc.get_objects())

    tune_for_serving()

    assert gc.get_threshold() == (YOUNG_GENERATION, *older)
    assert not any(o is made_at_start for o in gc.get_objects())  # frozen: never walked


def test_each_celery_pool_process_tunes_its_collector(collector):
    import backend.config.celery  # noqa: F401 - connects the receiver

    worker_process_init.send(sender=None)

    assert gc.get_threshold()[0] == YOUNG_GENERATION
    assert gc.get_freeze_count() > 0


def test_each_gunicorn_worker_tunes_its_collector(collector):
    config = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))

    config["post_fork"](None, None)

    assert gc.get_threshold()[0] == YOUNG_GENERATION
    assert gc.get_freeze_count() > 0
