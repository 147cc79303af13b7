"""The same one-tap token posted 50 times at once: one answer, one history row, one alert."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

pytestmark = pytest.mark.faults


def test_fifty_concurrent_taps_record_one_answer_and_alert_friends_once(stack):
    seeded = stack.seed(people=0)
    url = f"{stack.web.url}/api/answer/"
    body = {"token": seeded["alice"], "status": "safe"}

    def tap(_: int) -> int:
        return requests.post(url, json=body, timeout=30).status_code

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(tap, range(50)))
    print(f"\n50 concurrent taps in {time.perf_counter() - start:.2f}s: {sorted(set(statuses))}")
    assert set(statuses) == {200}
    rows = stack.postgres.query(
        "SELECT c.status, count(r.id) FROM checkins_checkin c JOIN accounts_user u "
        "ON u.id = c.person_id LEFT JOIN checkins_response r ON r.checkin_id = c.id "
        "WHERE u.email = 'alice@example.org' GROUP BY c.status"
    )
    assert rows == [("safe", 1)]
    alerts = stack.postgres.query(
        "SELECT count(*) FROM notifications_friendalert a JOIN accounts_user u "
        "ON u.id = a.recipient_id WHERE u.email = 'bob@example.org'"
    )
    assert alerts[0][0] == 1
