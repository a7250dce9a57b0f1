"""Ctrl-C between dynesty's iterations, never inside its calls of our functions.

dynesty calls the prior transform and the likelihood through a wrapper that catches *every*
exception, ``KeyboardInterrupt`` included, prints the parameters and a traceback, and re-raises.
A Ctrl-C that lands inside those calls (most of a run's time) therefore printed some twenty lines
of dynesty's before nestmix's one-line "interrupted". dynesty has no setting for it, so a run in
the main thread defers the signal: the first SIGINT only marks the run interrupted, and the
interrupt is raised from dynesty's per-iteration callback (``print_func``), outside the wrapper,
or when the run returns. A second SIGINT interrupts at once, as Python's default would.

Deferring also keeps a checkpoint being written when the signal arrives whole.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["InterruptBetweenIterations", "interrupt_between_iterations"]


class InterruptBetweenIterations:
    """The state of one deferred Ctrl-C and the per-iteration callback that raises it.

    Parameters
    ----------
    progress
        The callback dynesty would otherwise call each iteration (or ``None``); it is called
        first, with dynesty's arguments.
    """

    def __init__(self, progress: Callable[..., Any] | None = None) -> None:
        self.progress = progress
        self.pending = False

    def signal_handler(self, signum: int, frame: Any) -> None:
        """SIGINT: mark the run interrupted; a second one raises at once."""
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def raise_if_interrupted(self) -> None:
        """Raise ``KeyboardInterrupt`` if a SIGINT arrived since the run started."""
        if self.pending:
            raise KeyboardInterrupt

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        """dynesty's ``print_func``: progress (if any), then the deferred interrupt."""
        if self.progress is not None:
            self.progress(*args, **kwargs)
        self.raise_if_interrupted()


@contextmanager
def interrupt_between_iterations(
        progress: Callable[..., Any] | None = None) -> Iterator[InterruptBetweenIterations]:
    """Defer Ctrl-C to dynesty's iteration boundaries while the block runs.

    Yields the callback to pass as ``print_func`` (with ``print_progress=True``). Outside the
    main thread, or where SIGINT is not Python's default handler (a sweep worker ignores it; an
    embedding application has its own), nothing is installed and the callback only forwards
    progress.
    """
    guard = InterruptBetweenIterations(progress)
    install = (threading.current_thread() is threading.main_thread()
               and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    previous = signal.signal(signal.SIGINT, guard.signal_handler) if install else None
    try:
        yield guard
    finally:
        if install:
            signal.signal(signal.SIGINT, previous)
    guard.raise_if_interrupted()
