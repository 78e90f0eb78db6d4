"""Where the registered models live (torch-free: the archive builder reads it too)."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = "CONVLENS_MODELS_DIR"  # another models folder (tests, a deployment's own volume)


def models_dir() -> Path:
    """The models folder: $CONVLENS_MODELS_DIR, else model_store/models/ of this checkout."""
    return Path(os.environ.get(ENV) or ROOT / "model_store" / "models")
