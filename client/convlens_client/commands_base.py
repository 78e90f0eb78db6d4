"""Shared shape of the CLI's per-area subcommand modules (``commands_*.py``)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Callable, Optional, TextIO

if TYPE_CHECKING:
    from .client import Client

# A subcommand's runner: does the call, writes what it made, returns the exit status (None = 0).
Runner = Callable[["Client", argparse.Namespace, TextIO], Optional[int]]
