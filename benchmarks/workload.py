"""One representative request per endpoint at a given image side, cheap enough to time many times: iterative
endpoints run a few steps (their per-step cost is benchmarks/synthesis.py's and style.py's business)."""
from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache

import numpy as np
from PIL import Image
from skimage import data

from convlens_client.inputs import Fields, ImageFile

Photo = Callable[[], np.ndarray]


@cache
def jpeg(name: str, side: int, quality: int = 90) -> bytes:
    """A skimage photo resized to side x side, as the JPEG a phone app would upload."""
    buf = io.BytesIO()
    Image.fromarray(getattr(data, name)()).convert("RGB").resize((side, side), Image.BILINEAR).save(
        buf, format="JPEG", quality=quality)
    return buf.getvalue()


def image(name: str, side: int) -> ImageFile:
    return ImageFile(jpeg(name, side), f"{name}.jpg", "image/jpeg")


def fields(endpoint: str, side: int) -> Fields:
    """The benchmark request of `endpoint` with images of `side` px (outputs of that size where there is one)."""
    s = str(side)
    cat, rocket, coffee = image("chelsea", side), image("rocket", side), image("coffee", side)
    half = str(side // 2)
    table: dict[str, Fields] = {
        "classify": {"image": cat},
        "saliency": {"image": cat, "size": s},
        "occlusion": {"image": cat, "size": s, "patch": half, "stride": half},
        "segment": {"image": cat, "size": s, "iterations": "1"},
        "activations": {"image": cat, "size": s},
        "filters": {},
        "top_patches": {"image": cat, "image_2": rocket, "channel": "3", "size": s, "top": "2"},
        "embed": {"image": cat, "image_2": rocket, "size": s},
        "neighbors": {"image": cat, "gallery": rocket, "gallery_2": coffee, "size": s},
        "tsne": {"image": cat, "image_2": rocket, "image_3": coffee, "method": "pca", "size": s, "canvas": "256"},
        "classviz": {"target": "285", "steps": "2", "size": s},
        "fooling": {"image": cat, "target": "105", "max_steps": "2", "size": s},
        "inversion": {"image": cat, "steps": "1", "size": s},
        "deepdream": {"image": cat, "octaves": "1", "steps": "2", "max_size": s},
        "texture": {"image": rocket, "steps": "2", "size": s, "source_size": s},
        "style_transfer": {"content": cat, "style": rocket, "steps": "2", "size": s},
        "stylize": {"image": cat, "style": "stained_glass", "max_size": s},
    }
    return table[endpoint]


def as_row(request: Fields) -> dict[str, bytes]:
    """The request as TorchServe hands it to a handler (every form field as bytes)."""
    return {k: v.data if isinstance(v, ImageFile) else v.encode() for k, v in request.items()}


# Endpoints whose request has no image size to vary (one row instead of one per side).
SIZELESS = ("filters",)
# Fast endpoints get more timed runs than iterative or multi-pass ones.
QUICK = ("classify", "saliency", "stylize", "activations", "filters", "embed", "neighbors", "tsne")
