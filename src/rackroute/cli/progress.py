"""Progress of long commands (``lab up``, ``apply`` of many documents, ``ipam check``, benchmarks).

On a terminal: a live display (rich) with a spinner naming the step under way and its time, and a
bar per counted phase (parsing, validating, writing...), erased when the command ends. Anywhere
else (CI, a pipe, a file): plain lines only, one per finished step or phase, never a redraw.

    with live_progress(console, "apply") as progress:
        progress.step("network built in 1.0 s")           # a finished step, as a line
        with progress.phase("validating", total=n) as advance:
            for document in documents:
                ...
                advance()                                # the bar; the line when the phase ends

``quiet`` (``--json``, ``-o json``) yields None: print nothing. A phase of fewer than ``min_items``
items prints no line (applying three documents says what it did, not how).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as RichProgress
    from rich.progress import Task, TaskID
    from rich.text import Text

Advance = Callable[..., None]
T = TypeVar("T")


class Progress:
    """Steps and phases of one command; ``live`` is the terminal's display (None: plain lines)."""

    def __init__(self, console: Console, title: str, live: RichProgress | None, min_items: int) -> None:
        self.console = console
        self.title = title
        self.live = live
        self.min_items = min_items
        self.started = time.monotonic()
        self._status: TaskID | None = None

    def line(self, text: str) -> None:
        """A plain line (above the live display on a terminal)."""
        console = self.live.console if self.live is not None else self.console
        console.print(f"  {text}", style="dim", highlight=False, soft_wrap=True)  # whole lines, never cut

    def status(self, text: str) -> None:
        """What the spinner says is under way (terminal only)."""
        if self.live is None:
            return
        if self._status is None:
            self._status = self.live.add_task(text, total=None)
        else:
            self.live.update(self._status, description=text)

    def step(self, text: str) -> None:
        """A finished step: its line, and the spinner moves on to what comes after it."""
        self.line(text)
        elapsed = time.monotonic() - self.started
        self.status(f"{self.title} ({elapsed:.0f} s): after {text.split(':')[0]} ...")

    def start(self, description: str, total: int | None = None, unit: str = "") -> Phase:
        """A counted phase, ended with ``Phase.end`` (``phase`` is the ``with`` form)."""
        return Phase(self, description, total, unit)

    @contextlib.contextmanager
    def phase(self, description: str, total: int | None = None, unit: str = "") -> Iterator[Advance]:
        """A counted phase: ``advance(n=1)`` moves its bar; at its end one line, ``description:
        TOTAL UNIT in S s`` (none when ``total`` is below ``min_items``)."""
        phase = self.start(description, total, unit)
        try:
            yield phase.advance
        finally:
            phase.end()


class Phase:
    def __init__(self, progress: Progress, description: str, total: int | None, unit: str) -> None:
        self.progress = progress
        self.description = description
        self.total = total
        self.unit = unit
        self.done = 0
        self.started = time.monotonic()
        live = progress.live
        self._task = live.add_task(description, total=total) if live is not None else None

    def advance(self, count: int = 1) -> None:
        self.update(self.done + count)

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        if self._task is not None and self.progress.live is not None:
            self.progress.live.update(self._task, completed=done, total=self.total)

    def end(self, summary: str | None = None, *, count: int | None = None) -> None:
        """Its line: ``summary`` (default: ``description: N UNIT``) and the time it took, when
        ``count`` (default: the total, else what was done) reaches the progress' ``min_items``."""
        if self._task is not None and self.progress.live is not None:
            self.progress.live.remove_task(self._task)
            self._task = None
        counted = count if count is not None else self.total if self.total is not None else self.done
        if counted < self.progress.min_items:
            return
        if summary is None:
            summary = f"{self.description}: {counted:,} {self.unit}".rstrip()
        self.progress.line(f"{summary} in {time.monotonic() - self.started:.1f} s")


class Phases:
    """A ``(phase, done, total)`` callback (``ResourceClient.apply``, ``collect_garbage``) drawn as
    phases: a phase named in ``titles`` (name -> (line title, unit)) gets a bar and its line; any
    other only says on the spinner that it is under way. A phase ends when another begins, or at
    ``finish()``. ``count``: what decides whether lines are printed (default: each phase's total)."""

    def __init__(
        self, progress: Progress | None, titles: dict[str, tuple[str, str]], count: int | None = None
    ) -> None:
        self.progress = progress
        self.titles = titles
        self.count = count
        self.name: str | None = None
        self.current: Phase | None = None

    def __call__(self, name: str, done: int, total: int) -> None:
        progress = self.progress
        if progress is None:
            return
        if name != self.name:
            self.finish()
            self.name = name
            if name in self.titles:
                title, unit = self.titles[name]
                self.current = progress.start(title, total, unit)
            else:
                progress.status(f"{progress.title}: {name} ...")
        if self.current is not None:
            self.current.update(done, total)

    def finish(self) -> None:
        if self.current is not None:
            self.current.end(count=self.count)
        self.name = self.current = None


def _columns() -> list[object]:
    from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn

    class Bar(BarColumn):  # no pulsing bar for the status line (a task without total)
        def render(self, task: Task) -> Text:  # type: ignore[override]  # a Text or a ProgressBar
            from rich.text import Text

            return Text("") if task.total is None else super().render(task)  # type: ignore[return-value]

    class Count(MofNCompleteColumn):
        def render(self, task: Task) -> Text:
            from rich.text import Text

            return Text("") if task.total is None else super().render(task)

    return [
        SpinnerColumn("dots"),
        TextColumn("{task.description}"),
        Bar(bar_width=30),
        Count(),
        TimeElapsedColumn(),
    ]


@contextlib.contextmanager
def live_progress(
    console: Console, title: str, *, quiet: bool = False, first: str | None = None, min_items: int = 0
) -> Iterator[Progress | None]:
    """The progress of one command on ``console``: a live display on a terminal, plain lines
    elsewhere, None when ``quiet``. ``first``: what the spinner says before the first step."""
    if quiet:
        yield None
        return
    if not console.is_terminal:
        yield Progress(console, title, None, min_items)
        return
    from rich.progress import Progress as RichProgress

    with RichProgress(*_columns(), console=console, transient=True) as live:  # type: ignore[arg-type]
        progress = Progress(console, title, live, min_items)
        if first is not None:
            progress.status(first)
        yield progress


def counting(items: Iterable[T], advance: Advance) -> Iterator[T]:
    """``items`` one by one, advancing a phase by each."""
    for item in items:
        yield item
        advance()


def stderr_console() -> Console:
    """Where commands whose stdout is data (``apply``'s results, ``ipam check``'s findings) draw
    their progress: stderr, so that a pipe of stdout reads what it read before."""
    from rich.console import Console

    return Console(stderr=True)
