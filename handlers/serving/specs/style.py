"""Requests of the style endpoints: `style_transfer` (Gatys optimization) and `stylize` (trained networks)."""
from __future__ import annotations

import re
from typing import Any

from convlens.core.errors import InvalidParameter
from convlens.style.choices import DEFAULT_STYLE_WEIGHT, STYLE_LOSSES
from convlens.stylize import arbitrary, runtime

from ..fields import Fields
from ..spec import IMAGE, Choice, Field, Flag, Float, Image, Int, Kind, Text, Values, declare, endpoint, required_first
from .common import DEFAULT_BACKBONE, FORMATS, PALETTE, PHOTO, PROGRESS, SEED

MAX_STYLES = 4  # style, style_2, ..., style_4 (and style_image, ..., style_image_4)
MAX_TRANSFER_STEPS = 1000  # hard cap; the endpoint's YAML sets a lower serving limit
MAX_TRANSFER_SIZE = 1024
MAX_STYLIZE_SIDE = 8192
DEFAULT_WEIGHTS = ", ".join(f"{v:g} with {k}" for k, v in DEFAULT_STYLE_WEIGHT.items())
WEIGHTS = re.compile(r"^[^,]+(,[^,]+)*$")
STYLE_ID = re.compile(rf"[0-9a-f]{{{arbitrary.ID_LENGTH}}}")


def read_styles(fields: Fields, f: Field, values: Values) -> tuple[bytes, ...] | None:
    """`style`, `style_2`, ... without gaps, at most `hi` of them (None when an optional first one is absent)."""
    styles = [fields.image(f.name)] if f.required or fields.present(f.name) else []
    limit = f.bound("hi", values)
    index = 2
    while styles and fields.present(f"{f.name}_{index}"):
        if index > limit:
            raise InvalidParameter(f"{f.name}_{index}", f"too many style images: at most {limit} "
                                                        f"({f.name}, {f.name}_2 ... {f.name}_{limit})")
        styles.append(fields.image(f"{f.name}_{index}"))
        index += 1
    extra = sorted(k for k in fields.raw if re.fullmatch(rf"{f.name}_\d+", k) and k not in fields.used)
    if extra:
        raise InvalidParameter(extra[0], f"style images must be numbered without gaps: {f.name}, {f.name}_2, "
                                         f"...; '{extra[0]}' has no predecessor")
    return tuple(styles) or None


def read_style_ids(fields: Fields, f: Field, values: Values) -> tuple[str, ...] | None:
    """Comma-separated style ids (ID_LENGTH lower-case hex digits each), at most `hi` of them."""
    text = fields.text(f.name)
    if text is None:
        return None
    ids = tuple(part.strip().lower() for part in text.split(","))
    bad = next((i for i in ids if not STYLE_ID.fullmatch(i)), None)
    if bad is not None:
        raise InvalidParameter(f.name, f"'{bad[:40]}' is not a style id ({arbitrary.ID_LENGTH} hex digits, as "
                                       "a stylize result's `styles` gives them)")
    if len(ids) > f.bound("hi", values):
        raise InvalidParameter(f.name, f"at most {f.bound('hi', values)} style ids, got {len(ids)}")
    return ids


def style_count(values: Values) -> int:
    """How many style images the request sends (style_transfer's `styles`; stylize's images or ids)."""
    for attr in ("styles", "style_images", "style_ids"):
        if values.get(attr):
            return len(values[attr])
    return 0


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
    count = style_count(values)
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
STYLE_IDS = Kind("style_ids", read_style_ids,
                 {"type": "string", "pattern": rf"^{STYLE_ID.pattern}(,{STYLE_ID.pattern})*$"},
                 bounds=("min_ids", "max_ids"))
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
    style_loss: str = Choice("sliced", STYLE_LOSSES, "sliced Wasserstein on the features and the colours "
                                                     "(Heitz et al. 2021), or gram (Gatys et al. 2016)")
    palette: str = PALETTE  # recolours the content first; not with `preserve_colors`
    content_weight: float = Float(1.0, 0.0, 1e6, "content loss weight")
    style_weight: float | None = Float(None, 0.0, 1e6, "style loss weight, each layer relative to its target "
                                                       f"(default: {DEFAULT_WEIGHTS})")
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


def one_style_source(p: Any) -> None:
    """Exactly one of `style`, `blend` and style images (`style_image`... or `style_id`); their options only with
    style images."""
    given = [name for name, value in (("style", p.style), ("blend", p.blend), ("style_image", p.style_images),
                                      ("style_id", p.style_ids)) if value]
    if len(given) > 1:
        raise InvalidParameter(given[1], f"give one of style, blend, style_image or style_id, not {given[0]} "
                                         f"and {given[1]}")
    if not given:
        raise InvalidParameter("style", "is required: a style name (see describe), a blend name:weight,..., or "
                                        "a style_image (any picture)")
    if given[0] in ("style", "blend"):
        if p.style_weights is not None:
            raise InvalidParameter("style_weights", "weighs style images (style_image, ...) or style ids")
        if p.alpha != 1.0:
            raise InvalidParameter("alpha", "applies to style images (style_image, ...) or style ids")


@endpoint("stylize", one_style_source)
class StylizeParams:
    """A photo through a trained feed-forward stylizer, a blend of a multi-style network's styles, or any style
    image."""

    image: bytes = PHOTO
    style: str | None = Text("a stylizer's name, or one style of the multi-style network (describe: `styles`)",
                             example="brush_flow")
    blend: dict[str, float] | None = declare(BLEND, None, "`name:weight,...` over the multi-style network's "
                                                          "styles (weights >= 0, normalized to sum 1)")
    variant: str | None = Choice(None, runtime.VARIANTS, f"`lite`: the real-time students, distilled from the "
                                 f"trained networks (describe: `quality`); `full`: those networks; unset: "
                                 f"`{runtime.DEFAULT_VARIANT}` where the style has one, else `full`")
    style_images: tuple[bytes, ...] | None = declare(
        STYLES, None, f"any picture as the style (the arbitrary-style network): `style_image`, `style_image_2` ... "
                      f"`style_image_{MAX_STYLES}`, mixed by `style_weights`", name="style_image", lo=1,
        hi=MAX_STYLES)
    style_ids: tuple[str, ...] | None = declare(
        STYLE_IDS, None, "instead of `style_image`: comma-separated ids of style images this server has seen (a "
                         "result's `styles`); 404 `StyleNotCached` when one is not cached: send the image",
        name="style_id", lo=1, hi=MAX_STYLES)
    style_weights: tuple[float, ...] | None = declare(STYLE_WEIGHTS, None, "comma-separated mix of the style "
                                                                           "images, e.g. `1,3` (default: equal)")
    alpha: float = Float(1.0, 0.0, 1.0, "style images: 1 = their style, 0 = the photo's own (the style vector "
                                        "interpolated toward the photo's)")
    strength: float = Float(1.0, 0.0, 1.0, "mix of stylized and original pixels")
    preserve_colors: bool = Flag("keep the photo's colours (stylized luminance + original chroma, YIQ)")
    max_size: int = Int(1024, 16, MAX_STYLIZE_SIDE, "longest output side, in px (the server's "
                                                    "`max_output_side` caps it); never upscales")
    format: str = Choice("jpeg", ("jpeg", "png", "json", "npy", "proto"), "jpeg (with `quality`), png, json "
                                                                          "(base64 PNG + metadata), npy, proto")
    quality: int = QUALITY
