"""Typed parameters of the style endpoints (`style_transfer`, `stylize`), parsed from the flat request map."""
from __future__ import annotations

import re
from dataclasses import dataclass

from convlens.core.errors import InvalidParameter
from convlens.params import Fields, flag, progress_flag

MAX_STYLES = 4            # style, style_2, ..., style_4
MAX_TRANSFER_STEPS = 1000  # hard cap; the endpoint's YAML sets a lower serving limit
MAX_TRANSFER_SIZE = 1024
MAX_STYLIZE_SIDE = 8192



def number_list(fields: Fields, name: str, count: int | None = None) -> tuple[float, ...] | None:
    """Comma-separated non-negative numbers with a positive sum (blend weights)."""
    text = fields.text(name)
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InvalidParameter(name, f"must be comma-separated numbers, got '{text[:40]}'") from None
    if any(not (v >= 0 and v < float("inf")) for v in values) or sum(values) <= 0:
        raise InvalidParameter(name, "weights must be finite, non-negative and not all zero")
    if count is not None and len(values) != count:
        raise InvalidParameter(name, f"has {len(values)} weights for {count} style image(s)")
    return values


@dataclass(frozen=True)
class StyleTransferParams:
    content: bytes
    styles: tuple[bytes, ...]
    style_weights: tuple[float, ...] | None = None
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 100.0
    style_scale: float = 1.0
    preserve_colors: bool = False
    init: str = "content"
    optimizer: str = "lbfgs"
    steps: int = 100
    size: int = 256
    seed: int = 0
    smoothing: bool = False
    progress: bool = False
    format: str = "png"
    quality: int = 90
    backbone: str | None = None


def parse_style_transfer(fields: Fields) -> StyleTransferParams:
    content = fields.image("content", aliases=("image", "body"))
    styles = [fields.image("style")]
    index = 2
    while fields.present(f"style_{index}"):
        if index > MAX_STYLES:
            raise InvalidParameter(f"style_{index}", f"too many style images: at most {MAX_STYLES} "
                                                     f"(style, style_2 ... style_{MAX_STYLES})")
        styles.append(fields.image(f"style_{index}"))
        index += 1
    extra = sorted(k for k in fields.raw if re.fullmatch(r"style_\d+", k) and k not in fields.used)
    if extra:
        raise InvalidParameter(extra[0], f"style images must be numbered without gaps: style, style_2, ...; "
                                         f"'{extra[0]}' has no predecessor")
    return StyleTransferParams(
        content=content, styles=tuple(styles),
        style_weights=number_list(fields, "style_weights", len(styles)),
        content_weight=fields.number("content_weight", 1.0, 0.0, 1e6),
        style_weight=fields.number("style_weight", 10.0, 0.0, 1e6),
        tv_weight=fields.number("tv_weight", 100.0, 0.0, 1e6),
        style_scale=fields.number("style_scale", 1.0, 0.1, 4.0),
        preserve_colors=flag(fields, "preserve_colors"),
        init=fields.choice("init", "content", ("content", "noise")),
        optimizer=fields.choice("optimizer", "lbfgs", ("lbfgs", "adam")),
        steps=fields.integer("steps", 100, 1, MAX_TRANSFER_STEPS),
        size=fields.integer("size", 256, 32, MAX_TRANSFER_SIZE),
        seed=fields.integer("seed", 0, 0, 2**31 - 1),
        smoothing=flag(fields, "smoothing"),
        progress=progress_flag(fields),
        format=fields.choice("format", "png", ("png", "jpeg", "json", "npy", "proto")),
        quality=fields.integer("quality", 90, 1, 100),
        backbone=fields.text("backbone"),
    )


@dataclass(frozen=True)
class StylizeParams:
    image: bytes
    style: str | None = None
    blend: dict[str, float] | None = None
    strength: float = 1.0
    preserve_colors: bool = False
    max_size: int = 1024
    format: str = "jpeg"
    quality: int = 90


def parse_blend(text: str | None) -> dict[str, float] | None:
    """`name:weight,name:weight` -> {name: weight}; weights non-negative with a positive sum."""
    if text is None:
        return None
    blend: dict[str, float] = {}
    for part in text.split(","):
        name, sep, weight = part.partition(":")
        name = name.strip()
        try:
            value = float(weight) if sep else 1.0
        except ValueError:
            raise InvalidParameter("blend", f"'{part.strip()}' is not name:weight") from None
        if not name or not (0 <= value < float("inf")):
            raise InvalidParameter("blend", f"'{part.strip()}' is not name:weight with a weight >= 0")
        if name in blend:
            raise InvalidParameter("blend", f"style '{name}' is given twice")
        blend[name] = value
    if sum(blend.values()) <= 0:
        raise InvalidParameter("blend", "the weights must not all be zero")
    return blend


def parse_stylize(fields: Fields) -> StylizeParams:
    params = StylizeParams(
        image=fields.image("image", aliases=("body", "data")),
        style=fields.text("style"),
        blend=parse_blend(fields.text("blend")),
        strength=fields.number("strength", 1.0, 0.0, 1.0),
        preserve_colors=flag(fields, "preserve_colors"),
        max_size=fields.integer("max_size", 1024, 16, MAX_STYLIZE_SIDE),
        format=fields.choice("format", "jpeg", ("jpeg", "png", "json", "npy", "proto")),
        quality=fields.integer("quality", 90, 1, 100),
    )
    if params.style and params.blend:
        raise InvalidParameter("blend", "give either style or blend, not both")
    if not params.style and not params.blend:
        raise InvalidParameter("style", "is required: a style name (see describe) or a blend name:weight,...")
    return params
