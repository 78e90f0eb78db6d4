"""CLI subcommands of the lecture endpoints (filters, activations, top-patches, embed, neighbors, tsne)."""

from __future__ import annotations

import argparse

from .commands_base import Runner


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> dict[str, Runner]:
    """Add this area's subcommands to ``sub``; return their runners by name."""
    return {}
