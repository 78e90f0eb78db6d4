"""The sample photos the page offers with one click: the image files of one folder, nothing else."""

from __future__ import annotations

import os
from pathlib import Path

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
SAMPLES_ENV = "CONVLENS_SAMPLES"
DEFAULT_SAMPLES = os.path.join("build", "samples")  # where scripts/sample_photos.py writes them


def find_samples(folder: str | os.PathLike[str] | None = None) -> Path | None:
    """The samples folder: the argument, ``$CONVLENS_SAMPLES``, else ``./build/samples`` when it exists."""
    chosen = folder or os.environ.get(SAMPLES_ENV) or None
    if chosen is not None:
        path = Path(chosen).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"samples folder not found: {path}")
        return path
    path = Path(DEFAULT_SAMPLES)
    return path if path.is_dir() else None


class Samples:
    """The photos of a folder by file name; only names listed here are ever read (no paths from requests)."""

    def __init__(self, folder: Path | None, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes

    def names(self) -> list[str]:
        """The image files of the folder, sorted (none without a folder); files over the size limit left out."""
        if self.folder is None:
            return []
        return sorted(
            entry.name for entry in self.folder.iterdir()
            if entry.suffix.lower() in EXTENSIONS and entry.is_file() and not entry.is_symlink()
            and entry.stat().st_size <= self.max_bytes
        )

    def read(self, name: str) -> bytes | None:
        """The bytes of sample ``name``, or None when it is not one of :meth:`names`."""
        if self.folder is None or name not in self.names():
            return None
        return (self.folder / name).read_bytes()
