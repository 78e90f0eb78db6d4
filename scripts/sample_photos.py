"""Write the playground's sample photos (scikit-image's test pictures, small JPEGs) into a folder.

    .venv/bin/python scripts/sample_photos.py [build/samples]

`convlens playground` offers the photos of ./build/samples (or --samples DIR) with one click; `make install`
writes them, and the browser tests write their own. Nothing binary is committed.
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image
from skimage import data

PHOTOS = {"cat": data.chelsea, "astronaut": data.astronaut, "coffee": data.coffee, "rocket": data.rocket}
LONGEST_SIDE = 320  # small: quick to upload and to run every endpoint on a CPU


def write_samples(folder: Path) -> list[Path]:
    """One JPEG per photo, the longest side at most LONGEST_SIDE; an existing file is kept."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, load in PHOTOS.items():
        path = folder / f"{name}.jpg"
        if not path.exists():
            picture = Image.fromarray(load()).convert("RGB")
            picture.thumbnail((LONGEST_SIDE, LONGEST_SIDE), Image.Resampling.LANCZOS)
            picture.save(path, quality=90)
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "build/samples")
    print(f"sample photos in {target}: {', '.join(p.name for p in write_samples(target))}")
