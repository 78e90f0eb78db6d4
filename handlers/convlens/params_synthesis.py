"""Typed, validated parameters of the synthesis endpoints (classviz, fooling, inversion, deepdream, texture).

Every limit is enforced here with a 400 naming the field; wall time is bounded separately by a Deadline.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from convlens.core.errors import InvalidParameter
from convlens.params import Fields, progress_flag

FORMATS = ("png", "jpeg", "json", "npy", "proto")
MAX_SEED = 2**31 - 1
MAX_SIDE = 512



def layer_list(fields: Fields, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Comma-separated layer names (checked against the backbone later)."""
    text = fields.text(name)
    if text is None:
        return default
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names or len(names) > 8:
        raise InvalidParameter(name, "give 1 to 8 comma-separated layer names")
    return names


@dataclass(frozen=True)
class Common:
    format: str = "png"
    backbone: str | None = None
    progress: bool = False
    seed: int = 0


def common(fields: Fields) -> dict[str, Any]:
    return dict(format=fields.choice("format", "png", FORMATS), backbone=fields.text("backbone"),
                progress=progress_flag(fields), seed=fields.integer("seed", 0, 0, MAX_SEED))


@dataclass(frozen=True)
class ClassvizParams(Common):
    target: int | str | None = None
    layer: str | None = None
    channel: int | None = None
    steps: int = 100
    size: int = 128
    lr: float = 0.05
    l2: float = 1e-3
    blur_every: int | None = None
    blur_sigma: float = 0.5
    jitter: int = 8
    clip_norm_pct: float = 0.0
    clip_contrib_pct: float = 0.0
    param: str = "pixel"
    count: int = 1
    batch_size: int = 4


def parse_classviz(fields: Fields) -> ClassvizParams:
    p = ClassvizParams(
        **common(fields),
        target=fields.class_target("target"),
        layer=fields.text("layer"),
        channel=fields.integer("channel", -1, 0, 65535) if fields.present("channel") else None,
        steps=fields.integer("steps", 100, 1, 1000),
        size=fields.integer("size", 128, 32, MAX_SIDE),
        lr=fields.number("lr", 0.05, 1e-5, 1.0),
        l2=fields.number("l2", 1e-3, 0.0, 10.0),
        blur_every=fields.integer("blur_every", 0, 0, 1000) if fields.present("blur_every") else None,
        blur_sigma=fields.number("blur_sigma", 0.5, 0.0, 5.0),
        jitter=fields.integer("jitter", 8, 0, 64),
        clip_norm_pct=fields.number("clip_norm_pct", 0.0, 0.0, 99.0),
        clip_contrib_pct=fields.number("clip_contrib_pct", 0.0, 0.0, 99.0),
        param=fields.choice("param", "pixel", ("pixel", "fourier")),
        count=fields.integer("count", 1, 1, 8),
        batch_size=fields.integer("batch_size", 4, 1, 8),
    )
    if p.target is not None and (p.layer is not None or p.channel is not None):
        raise InvalidParameter("layer" if p.layer is not None else "channel",
                               "give either a class `target` or a `layer` and `channel`, not both")
    if p.target is None:
        if p.layer is None:
            raise InvalidParameter("target", "give a class `target` (index or label), or a `layer` and a "
                                             "`channel` to visualize an inner neuron")
        if p.channel is None:
            raise InvalidParameter("channel", f"`channel` is required with `layer` ({p.layer})")
    return p


@dataclass(frozen=True)
class FoolingParams(Common):
    image: bytes = b""
    target: int | str = 0
    max_steps: int = 100
    confidence: float = 0.9
    step_size: int = 1
    max_change: int = 32
    magnify: float = 10.0
    size: int = 224
    view: str = "fooled"


def parse_fooling(fields: Fields) -> FoolingParams:
    image = fields.image("image", aliases=("body", "data"))
    target = fields.class_target("target")
    if target is None:
        raise InvalidParameter("target", "is required: the class (index or label) the network should see")
    return FoolingParams(
        **common(fields), image=image, target=target,
        max_steps=fields.integer("max_steps", 100, 1, 1000),
        confidence=fields.number("confidence", 0.9, 0.01, 0.9999),
        step_size=fields.integer("step_size", 1, 1, 16),
        max_change=fields.integer("max_change", 32, 1, 255),
        magnify=fields.number("magnify", 10.0, 1.0, 100.0),
        size=fields.integer("size", 224, 32, MAX_SIDE),
        view=fields.choice("view", "fooled", ("fooled", "difference", "both")),
    )


@dataclass(frozen=True)
class InversionParams(Common):
    image: bytes = b""
    layer: str = "block4"
    steps: int = 200
    size: int = 128
    lr: float = 0.05
    tv_weight: float = 0.1
    alpha: float = 6.0
    alpha_weight: float = 1e-4


def parse_inversion(fields: Fields) -> InversionParams:
    return InversionParams(
        **common(fields), image=fields.image("image", aliases=("body", "data")),
        layer=fields.text("layer", "block4"),
        steps=fields.integer("steps", 200, 1, 2000),
        size=fields.integer("size", 128, 32, MAX_SIDE),
        lr=fields.number("lr", 0.05, 1e-5, 1.0),
        tv_weight=fields.number("tv_weight", 0.1, 0.0, 100.0),
        alpha=fields.number("alpha", 6.0, 1.0, 12.0),
        alpha_weight=fields.number("alpha_weight", 1e-4, 0.0, 100.0),
    )


@dataclass(frozen=True)
class DeepdreamParams(Common):
    image: bytes = b""
    guide: bytes | None = None
    layer: str = "block8"
    octaves: int = 3
    octave_scale: float = 1.4
    steps: int = 10
    step_size: float = 0.01
    jitter: int = 16
    max_size: int = MAX_SIDE


def parse_deepdream(fields: Fields) -> DeepdreamParams:
    return DeepdreamParams(
        **common(fields), image=fields.image("image", aliases=("body", "data")),
        guide=fields.image("guide") if fields.present("guide") else None,
        layer=fields.text("layer", "block8"),
        octaves=fields.integer("octaves", 3, 1, 8),
        octave_scale=fields.number("octave_scale", 1.4, 1.05, 3.0),
        steps=fields.integer("steps", 10, 1, 200),
        step_size=fields.number("step_size", 0.01, 1e-5, 0.5),
        jitter=fields.integer("jitter", 16, 0, 128),
        max_size=fields.integer("max_size", MAX_SIDE, 32, 1024),
    )


@dataclass(frozen=True)
class TextureParams(Common):
    image: bytes = b""
    size: int = 128
    layers: tuple[str, ...] = ("stem", "block2", "block4", "block6")
    steps: int = 200
    lr: float = 0.02
    source_size: int = 256


def parse_texture(fields: Fields) -> TextureParams:
    return TextureParams(
        **common(fields), image=fields.image("image", aliases=("body", "data")),
        size=fields.integer("size", 128, 32, MAX_SIDE),
        layers=layer_list(fields, "layers", TextureParams.layers),
        steps=fields.integer("steps", 200, 1, 2000),
        lr=fields.number("lr", 0.02, 1e-5, 1.0),
        source_size=fields.integer("source_size", 256, 32, MAX_SIDE),
    )


SYNTHESIS_PARSERS: dict[str, Callable[[Fields], Any]] = {
    "classviz": parse_classviz, "fooling": parse_fooling, "inversion": parse_inversion,
    "deepdream": parse_deepdream, "texture": parse_texture,
}
