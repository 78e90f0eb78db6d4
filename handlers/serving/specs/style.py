"""Requests of the style endpoints: `style_transfer` (Gatys optimization) and `stylize` (trained networks)."""
from __future__ import annotations

import re
from typing import Any

from convlens.core.errors import InvalidParameter

from ..fields import Fields
from ..spec import IMAGE, Choice, Field, Flag, Float, Image, Int, Kind, Text, Values, declare, endpoint, required_first
from .common import DEFAULT_BACKBONE, FORMATS, PHOTO, PROGRESS, SEED

MAX_STYLES = 4  # style, style_2, ..., style_4
MAX_TRANSFER_STEPS = 1000  # hard cap; the endpoint's YAML sets a lower serving limit
MAX_TRANSFER_SIZE = 1024
MAX_STYLIZE_SIDE = 8192
WEIGHTS = re.compile(r"^[^,]+(,[^,]+)*$")


def read_styles(fields: Fields, f: Field, values: Values) -> tuple[bytes, ...]:
    """`style`, `style_2`, ... without gaps, at most `hi` of them."""
    styles, limit = [fields.image(f.name)], f.bound("hi", values)
    index = 2
    while fields.present(f"{f.name}_{index}"):
        if index > limit:
            raise InvalidParameter(f"{f.name}_{index}", f"too many style images: at most {limit} "
                                                        f"({f.name}, {f.name}_2 ... {f.name}_{limit})")
        styles.append(fields.image(f"{f.name}_{index}"))
        index += 1
    extra = sorted(k for k in fields.raw if re.fullmatch(rf"{f.name}_\d+", k) and k not in fields.used)
    if extra:
        raise InvalidParameter(extra[0], f"style images must be numbered without gaps: {f.name}, {f.name}_2, "
                                         f"...; '{extra[0]}' has no predecessor")
    return tuple(styles)


def read_weights(fields: Fields, f: Field, values: Values) -> tuple[float, ...] | None:
    """Comma-separated non-negative numbers with a positive sum, one per style image."""
    text = fields.text(f.name)
    if text is None:
        return None
    try:
        weights = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InvalidParameter(f.name, f"must be comma-separated numbers, got '{text[:40]}'") from None
    if any(not (v >= 0 and v < float("inf")) for v in weights) or sum(weights) <= 0:
        raise InvalidParameter(f.name, "weights must be finite, non-negative and not all zero")
    count = len(values["styles"])
    if len(weights) != count:
        raise InvalidParameter(f.name, f"has {len(weights)} weights for {count} style image(s)")
    return weights


def read_blend(fields: Fields, f: Field, values: Values) -> dict[str, float] | None:
    """`name:weight,name:weight` -> {name: weight}; weights non-negative with a positive sum."""
    text = fields.text(f.name)
    if text is None:
        return None
    blend: dict[str, float] = {}
    for part in text.split(","):
        name, sep, weight = part.partition(":")
        name = name.strip()
        try:
            value = float(weight) if sep else 1.0
        except ValueError:
            raise InvalidParameter(f.name, f"'{part.strip()}' is not name:weight") from None
        if not name or not (0 <= value < float("inf")):
            raise InvalidParameter(f.name, f"'{part.strip()}' is not name:weight with a weight >= 0")
        if name in blend:
            raise InvalidParameter(f.name, f"style '{name}' is given twice")
        blend[name] = value
    if sum(blend.values()) <= 0:
        raise InvalidParameter(f.name, "the weights must not all be zero")
    return blend


STYLES = Kind("images", read_styles, IMAGE.schema, form=IMAGE.form, info={"numbered": True},
              bounds=("min_images", "max_images"))
STYLE_WEIGHTS = Kind("weights", required_first(read_weights), {"type": "string", "pattern": WEIGHTS.pattern})
BLEND = Kind("blend", required_first(read_blend), {"type": "string", "pattern": WEIGHTS.pattern})
QUALITY = Int(90, 1, 100, "JPEG quality")


@endpoint("style_transfer")
class StyleTransferParams:
    """A photo painted in the style of one or more images by optimization (Gatys et al. 2016)."""

    content: bytes = Image("the content image", aliases=("image", "body"))
    styles: tuple[bytes, ...] = declare(STYLES, None, f"style images: `style`, `style_2` ... `style_{MAX_STYLES}`",
                                        name="style", lo=1, hi=MAX_STYLES, required=True)
    style_weights: tuple[float, ...] | None = declare(STYLE_WEIGHTS, None, "comma-separated blend of the style "
                                                                           "images' Gram targets, e.g. `1,3` "
                                                                           "(default: equal)")
    content_weight: float = Float(1.0, 0.0, 1e6, "content loss weight")
    style_weight: float = Float(10.0, 0.0, 1e6, "style loss weight (each layer relative to its target)")
    tv_weight: float = Float(100.0, 0.0, 1e6, "total-variation weight (smoothness)")
    style_scale: float = Float(1.0, 0.1, 4.0, "style images resized to `style_scale * size` (bigger: coarser "
                                              "strokes)")
    preserve_colors: bool = Flag("luminance-only transfer (Gatys et al. 2017): grey content and styles, the "
                                 "content's chroma put back")
    init: str = Choice("content", ("content", "noise"), "start from the content image or from noise (`seed`)")
    optimizer: str = Choice("lbfgs", ("lbfgs", "adam"), "L-BFGS (strong Wolfe line search) or Adam (lr 0.02)")
    steps: int = Int(100, 1, MAX_TRANSFER_STEPS, "iterations over all passes (the server's `max_steps` caps it)")
    size: int = Int(256, 32, MAX_TRANSFER_SIZE, "longer side of the result, in px (the server's `max_size` caps "
                                                "it); coarse-to-fine above 320")
    seed: int = SEED
    smoothing: bool = Flag("softmax-smoothed activations (Wang et al. 2021), see below")
    progress: bool = PROGRESS
    format: str = Choice("png", FORMATS, "png, jpeg (with `quality`), json (losses + base64 PNG), npy, proto")
    quality: int = QUALITY
    backbone: str | None = DEFAULT_BACKBONE


def style_or_blend(p: Any) -> None:
    """Exactly one of `style` and `blend`."""
    if p.style and p.blend:
        raise InvalidParameter("blend", "give either style or blend, not both")
    if not p.style and not p.blend:
        raise InvalidParameter("style", "is required: a style name (see describe) or a blend name:weight,...")


@endpoint("stylize", style_or_blend)
class StylizeParams:
    """A photo through a trained feed-forward stylizer, or a blend of a multi-style network's styles."""

    image: bytes = PHOTO
    style: str | None = Text("a stylizer's name, or one style of the multi-style network (describe: `styles`)",
                             example="brush_flow")
    blend: dict[str, float] | None = declare(BLEND, None, "`name:weight,...` over the multi-style network's "
                                                          "styles (weights >= 0, normalized to sum 1)")
    strength: float = Float(1.0, 0.0, 1.0, "mix of stylized and original pixels")
    preserve_colors: bool = Flag("keep the photo's colours (stylized luminance + original chroma, YIQ)")
    max_size: int = Int(1024, 16, MAX_STYLIZE_SIDE, "longest output side, in px (the server's "
                                                    "`max_output_side` caps it); never upscales")
    format: str = Choice("jpeg", ("jpeg", "png", "json", "npy", "proto"), "jpeg (with `quality`), png, json "
                                                                          "(base64 PNG + metadata), npy, proto")
    quality: int = QUALITY
