"""Deadline: passes within budget, raises a 413 naming the field after it."""
import time

import pytest

from convlens.core.progress import Deadline, ProgressEvent, TimeLimitExceeded


def test_deadline_raises_after_budget():
    d = Deadline(0.05, field="steps")
    d.check()
    time.sleep(0.06)
    assert d.expired()
    with pytest.raises(TimeLimitExceeded) as info:
        d.check()
    assert info.value.code == 413 and info.value.field == "steps"


def test_no_budget_never_expires():
    d = Deadline(None)
    d.check()
    assert not d.expired()


def test_event_defaults():
    e = ProgressEvent(step=3, total=10)
    assert (e.loss, e.stage, e.preview) == (None, "", None)
