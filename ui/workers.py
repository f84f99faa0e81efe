"""Running work off the GUI thread: ``Task`` (a QRunnable on the shared pool) with progress/result/error signals.

A task function receives a ``Control`` first: ``control.cancelled`` tells it to stop, ``control.progress(x)``
reports to the GUI thread. Signals are queued to the GUI thread because ``TaskSignals`` lives there.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


@dataclass
class TaskError:
    message: str
    details: str
    exception: BaseException


class Control:
    """What a running task sees: a cancel flag and a progress reporter."""

    def __init__(self, signals: TaskSignals):
        self.cancel_event = threading.Event()
        self._signals = signals

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def progress(self, value: Any) -> None:
        self._signals.progress.emit(value)


class TaskSignals(QObject):
    progress = Signal(object)
    result = Signal(object)
    error = Signal(object)
    finished = Signal()


class Task(QRunnable):
    """``fn(control, *args, **kwargs)`` run on a pool thread."""

    def __init__(self, fn: Callable, *args, **kwargs):
        super().__init__()
        self.setAutoDelete(False)
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.signals = TaskSignals()
        self.control = Control(self.signals)
        self.done = threading.Event()

    def cancel(self) -> None:
        self.control.cancel_event.set()

    def run(self) -> None:
        try:
            value = self.fn(self.control, *self.args, **self.kwargs)
        except Exception as exc:  # reported to the GUI, never raised into Qt
            log.exception("task %s failed", getattr(self.fn, "__name__", self.fn))
            self.signals.error.emit(TaskError(str(exc) or type(exc).__name__, traceback.format_exc(), exc))
        else:
            self.signals.result.emit(value)
        finally:
            self.done.set()
            self.signals.finished.emit()


class Latest:
    """Tickets for a view's repeated background loads: only the newest load's result is delivered.

    Tasks run on a pool of several threads and can finish out of order; a result read before a decision must not
    replace the one read after it. ``latest.only(fn)`` takes a new ticket and returns a callback that calls ``fn``
    only while that ticket is still the newest."""

    def __init__(self) -> None:
        self.current = 0

    def only(self, fn: Callable[[Any], None]) -> Callable[[Any], None]:
        self.current += 1
        ticket = self.current

        def deliver(value: Any) -> None:
            if ticket == self.current:
                fn(value)

        return deliver


class TaskRunner(QObject):
    """Starts tasks on a thread pool and keeps them alive until they finish."""

    busyChanged = Signal(int)
    modelMissing = Signal()
    """A task failed because a model is not installed (the main window then offers to install it)."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 2):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._running: set[Task] = set()

    def start(
        self,
        fn: Callable,
        *args,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[TaskError], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        **kwargs,
    ) -> Task:
        task = Task(fn, *args, **kwargs)
        if on_result:
            task.signals.result.connect(on_result)
        if on_error:
            task.signals.error.connect(on_error)
        if on_progress:
            task.signals.progress.connect(on_progress)
        if on_finished:
            task.signals.finished.connect(on_finished)
        task.signals.error.connect(self._check_missing_model)
        task.signals.finished.connect(lambda t=task: self._done(t))
        self._running.add(task)
        self.busyChanged.emit(len(self._running))
        self.pool.start(task)
        return task

    def _check_missing_model(self, error: TaskError) -> None:
        from facerec.errors import ModelNotInstalledError

        if isinstance(error.exception, ModelNotInstalledError):
            self.modelMissing.emit()

    def _done(self, task: Task) -> None:
        self._running.discard(task)
        self.busyChanged.emit(len(self._running))

    @property
    def running(self) -> int:
        return len(self._running)

    def cancel_all(self) -> None:
        for task in list(self._running):
            task.cancel()

    def wait(self, msecs: int = 30000) -> bool:
        return self.pool.waitForDone(msecs)
