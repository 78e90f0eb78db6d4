"""Build-time tools, never packed into the served archives; puts handlers/ on sys.path so they import the engine as
`convlens` when run from the repo root (`python -m tools.stylizers.train ...`)."""
import sys
from pathlib import Path

_HANDLERS = str(Path(__file__).resolve().parents[1] / "handlers")
if _HANDLERS not in sys.path:
    sys.path.insert(0, _HANDLERS)
