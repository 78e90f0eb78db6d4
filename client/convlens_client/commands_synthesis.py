"""CLI subcommands of the synthesis endpoints (classviz, fooling, inversion, deepdream, texture)."""

from __future__ import annotations

import argparse

from .commands_base import Runner


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> dict[str, Runner]:
    """Add this area's subcommands to ``sub``; return their runners by name."""
    return {}
