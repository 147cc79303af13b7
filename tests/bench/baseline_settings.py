"""Settings for the B3 baseline: the app's settings with a one-view URLconf.

Same middleware, database and Redis configuration as production; only the URLs differ.
"""

from backend.config.settings import *  # noqa: F403

ROOT_URLCONF = "tests.bench.baseline_urls"
