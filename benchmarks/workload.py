"""One representative request per endpoint at a given image side, cheap enough to time many times: iterative
endpoints run a few steps (their per-step cost is benchmarks/synthesis.py's and style.py's business).

Every endpoint the specs declare has one (its example request, `serving.specs.example_request`); `special` holds
only what differs from it."""
from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache

import numpy as np
from PIL import Image
from skimage import data

from convlens_client.inputs import Fields, ImageFile
from serving.specs import SPECS, example_request

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


def special(side: int) -> dict[str, Fields]:
    """By endpoint, what its benchmark request changes in its example request (declared examples, a photo in each
    required image slot, `size` = the side): fewer steps, the side in another field, more images. An endpoint not
    listed is timed with its example request as it is."""
    s, half = str(side), str(side // 2)
    rocket, coffee = image("rocket", side), image("coffee", side)
    return {
        "occlusion": {"patch": half, "stride": half},
        "segment": {"iterations": "1"},
        "top_patches": {"image_2": rocket, "top": "2"},
        "embed": {"image_2": rocket},
        "neighbors": {"gallery_2": coffee},
        "tsne": {"image_3": coffee, "method": "pca", "canvas": "256"},
        "classviz": {"target": "285", "steps": "2"},
        "fooling": {"target": "105", "max_steps": "2"},
        "inversion": {"steps": "1"},
        "deepdream": {"octaves": "1", "steps": "2", "max_size": s},
        "texture": {"image": rocket, "steps": "2", "source_size": s},
        "style_transfer": {"steps": "2"},
        "stylize": {"style": "stained_glass", "max_size": s},
    }


def fields(endpoint: str, side: int) -> Fields:
    """The benchmark request of `endpoint` with images of `side` px (outputs of that size where there is one): its
    example request from the spec, with the photos chelsea, rocket, coffee in turn, and `special` over it."""
    photos = [image(name, side) for name in ("chelsea", "rocket", "coffee")]
    sized = {"size": str(side)} if any(f.name == "size" for f in SPECS[endpoint].fields) else {}
    return example_request(endpoint, photos, **sized, **special(side).get(endpoint, {}))


def as_row(request: Fields) -> dict[str, bytes]:
    """The request as TorchServe hands it to a handler (every form field as bytes)."""
    return {k: v.data if isinstance(v, ImageFile) else v.encode() for k, v in request.items()}


# Endpoints whose request has no image size to vary (one row instead of one per side).
SIZELESS = ("filters",)
# Fast endpoints get more timed runs than iterative or multi-pass ones.
QUICK = ("classify", "saliency", "stylize", "activations", "filters", "embed", "neighbors", "tsne")
