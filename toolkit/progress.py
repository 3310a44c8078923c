"""Stage timing and a rich progress bar on stderr (silent when disabled, e.g. with --json)."""
from __future__ import annotations

import contextlib
import time
from typing import Iterator


class Steps:
    """Times named steps of a job; shows them as one progress bar when ``show`` is true."""

    def __init__(self, title: str, total: int, show: bool = True):
        self.timings: dict[str, float] = {}
        self._progress = None
        self._task = None
        if show:
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                       TimeElapsedColumn)
            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      TextColumn("{task.completed:.0f}/{task.total:.0f}"),
                                      TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._download_columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
            self._task = self._progress.add_task(title, total=total)
        self._title = title

    def __enter__(self) -> "Steps":
        if self._progress:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress:
            self._progress.stop()

    @property
    def bar(self):
        """The underlying rich Progress (for byte-level sub-tasks such as downloads), or None."""
        return self._progress

    def describe(self, text: str) -> None:
        """Replace the bar's description (e.g. with the last epoch's loss)."""
        if self._progress:
            self._progress.update(self._task, description=text)

    def advance(self, units: int = 1) -> None:
        """Count units of work done outside ``step`` (e.g. from worker threads)."""
        if self._progress and units:
            self._progress.advance(self._task, units)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        if self._progress:
            self._progress.update(self._task, description=f"{self._title}: {name}")
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(time.perf_counter() - t0, 3)
            if self._progress:
                self._progress.advance(self._task)
