"""Shared test setup: the engine package from handlers/ (as `convlens`), the build tools (`tools`) and this
checkout's client SDK."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "handlers"))
sys.path.insert(0, str(ROOT))  # tools/ (build-time code: stylizer training and export)
sys.path.insert(0, str(ROOT / "client"))  # this checkout's client, before any installed copy
