"""Garbage collection for the long-running processes: web, Celery workers, answers drainer.

Python collects its youngest generation every 700 allocations (net of frees) and now and
then walks every object the process holds. A push worker allocates a few hundred objects a
message (rows, messages, requests) and spent ~15 µs of CPU a message in the collector:
297-320 ms in 540 collections while sending 20,000 pushes, against 43 ms in 7 with these
settings (`bench_push_channel.py --people 20000 --postgres`, collector timed through
`gc.callbacks`). Reference counting still frees almost everything at once; only cycles wait
for a collection, and a young generation of 50,000 objects is a few megabytes.
"""

import gc

YOUNG_GENERATION = 50_000


def tune_for_serving() -> None:
    """Call once a process has started (after forking, imports and settings).

    What start-up allocated (modules, settings, URL patterns) lives as long as the process:
    frozen, the collector never walks it again, and a forked child does not copy the pages
    the walk would have written to.
    """
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION, *gc.get_threshold()[1:])
