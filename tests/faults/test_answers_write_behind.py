"""Answers posted in a loop while the drainer is SIGKILLed, again and again, mid-stream.

Every answer the web acknowledged (2xx) must end up in PostgreSQL exactly once: the entries
a killed drainer had read but not acknowledged are claimed by the next one, and an entry
recorded before the kill but not acknowledged is recognised by its key, not recorded again.
"""

import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import requests

from tests.support.waiting import wait_for

from .servers import ROOT

pytestmark = pytest.mark.faults

PEOPLE = 800
KILLS = 4
# The stream and the drainer's announcement, named after the stack's database ("safe").
STREAM = "answers:safe"


def _drainer(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "drain_answers", "--reclaim-idle-ms", "500"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


def test_every_acknowledged_answer_is_recorded_once_though_the_drainer_is_killed(stack):
    seeded = stack.seed(people=PEOPLE)
    tokens = seeded["others"]
    # Every fourth person changes their mind: "need help", then "safe".
    twice = set(tokens[::4])
    url = f"{stack.web.url}/api/answer/"
    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    drainer = _drainer(stack.env)
    wait_for(lambda: client.exists(f"{STREAM}:drainer"), timeout=60, what="the drainer")
    acknowledged: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def answer(token: str) -> None:
        statuses = ["need_help", "safe"] if token in twice else ["safe"]
        for status in statuses:
            reply = requests.post(url, json={"token": token, "status": status}, timeout=30)
            assert reply.status_code == 200, reply.text
        with lock:
            acknowledged.append(token)

    kills = 0

    def killer() -> None:
        nonlocal drainer, kills
        while kills < KILLS and not done.is_set():
            # Once this drainer is up (announced under its own pid), kill it a moment later:
            # at that rate it is usually holding a batch read but not yet acknowledged.
            name = f"-{drainer.pid}"
            wait_for(
                lambda name=name: (client.get(f"{STREAM}:drainer") or "").endswith(name),
                timeout=60,
            )
            time.sleep(random.uniform(0.05, 0.3))
            os.killpg(drainer.pid, signal.SIGKILL)
            drainer.wait(timeout=10)
            kills += 1
            drainer = _drainer(stack.env)

    killing = threading.Thread(target=killer)
    killing.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(answer, tokens))
    done.set()
    killing.join()
    try:
        print(f"\n{len(acknowledged)} people answered; {client.xlen(STREAM)} answers queued")
        wait_for(lambda: client.xlen(STREAM) == 0, timeout=120, what="the drainer")
    finally:
        os.killpg(drainer.pid, signal.SIGTERM)
        drainer.wait(timeout=30)

    assert len(acknowledged) == len(tokens)
    ids = {int(token.split(".")[0], 16): token for token in acknowledged}
    rows = stack.postgres.query(
        "SELECT c.id, c.status, count(r.id), count(DISTINCT r.key), "  # noqa: S608 - ints
        "count(r.id) FILTER (WHERE r.key IS NOT NULL) "
        "FROM checkins_checkin c LEFT JOIN checkins_response r ON r.checkin_id = c.id "
        f"WHERE c.id IN ({','.join(map(str, ids))}) GROUP BY c.id"
    )
    assert len(rows) == len(ids)
    via_stream = 0
    for checkin_id, status, answers, distinct_keys, keyed in rows:
        expected = 2 if ids[checkin_id] in twice else 1
        assert (status, answers) == ("safe", expected), checkin_id
        assert distinct_keys == keyed
        via_stream += keyed
    counters = stack.postgres.query(
        "SELECT sum(safe), sum(need_help) FROM checkins_incidentcounter"
    )
    assert counters == [(len(ids), 0)]
    # Most answers went through the stream (the rest while no drainer was announced).
    print(f"{via_stream} answers recorded through the stream, {kills} drainers killed")
    assert via_stream > 0
    assert kills >= 1


def test_answers_are_accepted_while_postgres_is_down_and_recorded_once_it_is_back(stack):
    tokens = stack.seed(people=30)["others"]
    url = f"{stack.web.url}/api/answer/"
    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    drainer = _drainer(stack.env)
    try:
        wait_for(lambda: client.exists(f"{STREAM}:drainer"), timeout=60, what="the drainer")
        # The seed made the incident active behind the service's back: one answer recorded
        # synchronously tells the web it is (activation through the service does that).
        first = requests.post(url, json={"token": tokens.pop(), "status": "safe"}, timeout=30)
        assert first.status_code == 200
        stack.postgres.stop()
        try:
            statuses = [
                requests.post(url, json={"token": t, "status": "safe"}, timeout=30).status_code
                for t in tokens
            ]
            assert statuses == [200] * len(tokens)
            # The drainer cannot record them yet, and keeps them (and itself) alive.
            time.sleep(2)
            assert client.xlen(STREAM) == len(tokens)
            assert client.exists(f"{STREAM}:drainer")
        finally:
            stack.postgres.start()
        wait_for(lambda: client.xlen(STREAM) == 0, timeout=60, what="the drainer")
    finally:
        os.killpg(drainer.pid, signal.SIGTERM)
        drainer.wait(timeout=30)
    rows = stack.postgres.query(
        "SELECT count(*), count(DISTINCT r.checkin_id), count(r.key) FROM checkins_response r "
        "JOIN checkins_checkin c ON c.id = r.checkin_id WHERE c.status = 'safe'"
    )
    # Every answer once; all but the first (synchronous, no key) through the stream.
    assert rows == [(len(tokens) + 1, len(tokens) + 1, len(tokens))]
