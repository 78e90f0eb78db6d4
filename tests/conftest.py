"""Shared test setup: make the engine package importable as `convlens` from handlers/."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "handlers"))
