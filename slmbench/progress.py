"""A progress line for long generation jobs, written to the job's log.

Log files are read with `tail -f` or after the fact, so this prints whole lines
(samples done, rate, ETA) at most every `every_s` seconds, never carriage returns.
"""

from __future__ import annotations

import sys
import time


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, total: int, label: str, log=None, every_s: float = 5.0):
        self.total, self.label, self.log, self.every_s = total, label, log or sys.stderr, every_s
        self.done = 0
        self.start = time.monotonic()
        self._last = -every_s

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = format_duration((self.total - self.done) / rate) if rate > 0 else "?"
        pct = 100 * self.done / self.total if self.total else 100
        bar = "#" * int(pct // 5)
        return f"[{self.label}] |{bar:<20}| {self.done}/{self.total} samples ({pct:.0f}%) {rate:.2f} samples/s, elapsed {format_duration(elapsed)}, ETA {eta}"

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.done >= self.total or now - self._last >= self.every_s:
            self._last = now
            print(self.line(), file=self.log, flush=True)
