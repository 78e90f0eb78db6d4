"""Progress and wall-time budgets of the iterative engine functions (synthesis, style transfer).

Engine loops take an optional `progress` callback and a `Deadline`; the serving layer turns events into
streamed messages (progress=true) and the deadline keeps every request below TorchServe's response timeout.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .errors import ConvLensError


@dataclass(frozen=True)
class ProgressEvent:
    """One step of an iterative computation; `preview` is an optional small HxWx3 uint8 picture."""

    step: int
    total: int
    loss: float | None = None
    stage: str = ""
    elapsed_s: float = 0.0
    preview: np.ndarray | None = field(default=None, repr=False, compare=False)


ProgressCallback = Callable[[ProgressEvent], None]


class TimeLimitExceeded(ConvLensError):
    """The request would run past its wall-time budget (413: too much work asked; use fewer steps or pixels)."""

    def __init__(self, budget_s: float, field: str | None = "steps") -> None:
        super().__init__(message=f"the request ran past its time budget of {budget_s:g} s; "
                                 f"ask for fewer steps or a smaller size", field=field, code=413,
                         type="TimeLimitExceeded")


class Deadline:
    """A wall-time budget started at construction; `check()` raises TimeLimitExceeded once it has passed."""

    def __init__(self, budget_s: float | None, field: str | None = "steps") -> None:
        self.budget_s = budget_s
        self.field = field
        self.started = time.monotonic()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def expired(self) -> bool:
        return self.budget_s is not None and self.elapsed_s > self.budget_s

    def check(self) -> None:
        if self.budget_s is not None and self.expired():
            raise TimeLimitExceeded(float(self.budget_s), self.field)
