"""A finished run's prompt exit: Snakemake's process and each job's.

Two costs that a run paid after its work was done (bench/README.md, "One cell, whole run"):
Snakemake's scheduler timer, which held each run's exit for up to a second, and the interpreter's
last garbage collection, which looks once more through every object still alive (about 0.2 s for a
process that has imported pandas, matplotlib or the OpenAI client: paid by each job and by
Snakemake itself on every run).
"""

import gc
import threading


def release_scheduler_timer() -> None:
    """Let the finished run exit at once. Snakemake's job rate limiter (--max-jobs-per-timespan,
    100/1s by default) wakes its scheduler again with a 1 s threading.Timer after every pass; the
    one armed by the last pass is not a daemon, so it held each run's exit for up to a second
    (bench/README.md). When the run has ended no pass is left for it to wake: cancel it. The timer
    is found by the name of Snakemake's (private) method that arms it, misspelt there; should a
    Snakemake release rename it, nothing is cancelled and a run ends up to a second later.
    """
    for thread in threading.enumerate():
        wakes = getattr(thread, "function", None)
        if "_schedule_reevalutation" in getattr(wakes, "__qualname__", ""):
            thread.cancel()


def skip_exit_collection() -> None:
    """Leave the objects still alive to the operating system instead of the last collection. A job
    script calls it once its outputs are closed; Snakemake's own process from onsuccess/onerror,
    after which it only writes its log (a freeze holds no write back). A workflow run through
    Snakemake's Python API inside a long-lived process (a notebook) would leave that process's
    objects frozen too; slmbench is run from the command line."""
    gc.freeze()
