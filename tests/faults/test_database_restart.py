"""Answers posted while PostgreSQL restarts: every acknowledged answer is stored.

Those refused during the outage get 503 with Retry-After; the client then retries them,
as the PWA's offline queue does, until every answer is in.
"""

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

pytestmark = pytest.mark.faults

PEOPLE = 400


def test_no_acknowledged_answer_is_lost_across_a_database_restart(stack):
    tokens = stack.seed(people=PEOPLE)["others"]
    url = f"{stack.web.url}/api/answer/"
    outcomes: Counter[str] = Counter()
    acknowledged: set[str] = set()
    lock = threading.Lock()

    def answer(token: str) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                response = requests.post(url, json={"token": token, "status": "safe"}, timeout=10)
            except requests.RequestException:
                outcome = "connection error"
            else:
                outcome = str(response.status_code)
                if response.status_code == 503:
                    assert response.headers["Retry-After"] == "5"
                    assert response.json()["error"]["code"] == "unavailable"
            with lock:
                outcomes[outcome] += 1
                if outcome == "200":
                    acknowledged.add(token)
                    return
            assert outcome in ("503", "connection error"), outcome
            time.sleep(0.5)  # the offline queue waits (Retry-After, shortened here) and retries
        raise AssertionError(f"{token} was never acknowledged")

    def restart() -> None:
        time.sleep(1.0)
        stack.postgres.stop()
        time.sleep(3.0)
        stack.postgres.start()

    start = time.perf_counter()
    restarter = threading.Thread(target=restart)
    restarter.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda t: (answer(t), time.sleep(0.02)), tokens))
    restarter.join()
    print(f"\n{len(tokens)} answers in {time.perf_counter() - start:.1f}s: {dict(outcomes)}")
    assert outcomes["503"] > 0, "the restart happened while nothing was posted"
    assert outcomes.get("500", 0) == 0
    stored = stack.postgres.query("SELECT count(*) FROM checkins_checkin WHERE status = 'safe'")[0][
        0
    ]
    history = stack.postgres.query("SELECT count(DISTINCT checkin_id) FROM checkins_response")[0][0]
    assert len(acknowledged) == len(tokens)
    assert stored == history == len(tokens)
