"""Gunicorn settings for the web process, read from the environment.

Use: `gunicorn -c deploy/gunicorn.conf.py backend.config.wsgi:application`.
"""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"  # noqa: S104 - in a container or behind nginx
# gthread workers: requests wait on the database more than they compute.
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Load the app once in the master, so a broken deploy fails at start, not per worker.
preload_app = True
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Each worker listens on its own SO_REUSEPORT socket and the kernel spreads new connections
# across them. With the one shared socket, whichever worker was awake accepted a burst of
# new connections whole: in `make bench` B3, one step in three ran on a single worker while
# the other idled (1,700 → 840 req/s), and long-lived keep-alive clients (wrk, nginx) kept it
# that way. A worker's not-yet-accepted connections die with it; workers seldom restart.
reuse_port = True
# No periodic worker restarts (GUNICORN_MAX_REQUESTS=N turns them on). A restarted worker's
# keep-alive clients reconnect while its replacement boots, so they all land on the workers
# still running, and the new one stays idle for as long as they keep their connections: in
# `make bench` B3 each restart halved a 12-second step (2,200 → 1,000 to 1,450 req/s, the
# restarted worker serving nothing). Memory stays flat without them: 94 MB a worker from
# the first to the 150,000th answer (four 20-second wrk runs against one server).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = 200
# Trust X-Forwarded-* only from the reverse proxy (nginx on the same host by default).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def post_fork(server: object, worker: object) -> None:
    """Each web process, once forked from the preloaded app: garbage collection tuned."""
    # Imported here: gunicorn reads this file before it puts the app's directory on the path.
    from backend.common.gc_tuning import tune_for_serving

    tune_for_serving()
