"""Every task of ours has a queue of its role, so each role can be given its own workers."""

from backend.config.celery import app
from backend.config.queues import ROLES, task_routes


def test_every_task_is_routed_to_the_queue_of_its_role():
    app.loader.import_default_modules()
    ours = {name for name in app.tasks if name.startswith("backend.")}

    assert ours == {task for tasks in ROLES.values() for task in tasks}
    assert task_routes("safe")["backend.notifications.tasks.send_friend_alerts"] == {
        "queue": "safe.deliver"
    }
