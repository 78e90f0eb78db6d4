"""Requests of the synthesis endpoints: classviz, fooling, inversion, deepdream, texture.

Every limit is enforced here with a 400 naming the field; wall time is bounded separately by a Deadline. All of
them take `format`, `seed`, `progress` (streamed events) and `backbone`.
"""
from __future__ import annotations

from typing import Any

from convlens.core.errors import InvalidParameter
from convlens.style.losses import PIXELS
from convlens.synthesis.objectives import DIVERSITY, KINDS
from convlens.synthesis.texture import DEFAULT_LAYERS as TEXTURE_LAYERS
from convlens.synthesis.texture import LOSSES as TEXTURE_LOSSES

from ..fields import Fields
from ..spec import Choice, Field, Float, Image, Int, Kind, Target, Text, Values, declare, endpoint, required_first
from .common import BACKBONE, DEFAULT_BACKBONE, FORMAT, PALETTE, PHOTO, PROGRESS, SEED

MAX_SIDE = 512
MAX_LAYERS = 8


def read_layer_list(fields: Fields, f: Field, values: Values) -> tuple[str, ...]:
    """Comma-separated layer names, duplicates dropped (checked against the backbone later)."""
    text = fields.text(f.name)
    if text is None:
        return f.default
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names or len(names) > MAX_LAYERS:
        raise InvalidParameter(f.name, f"give 1 to {MAX_LAYERS} comma-separated layer names")
    return names


LAYERS = Kind("layers", required_first(read_layer_list), {"type": "string", "pattern": "^[^,]+(,[^,]+)*$"},
              wire=",".join)
LR = "learning rate: mean pixel change per step"
PIXEL = ("param", ("pixel",))  # Yosinski's pixel-space regularizers


class Synthesis:
    """The fields every synthesis endpoint takes, after its own."""

    format: str = FORMAT
    seed: int = SEED
    progress: bool = PROGRESS
    backbone: str | None = BACKBONE


def target_or_neuron(p: Any) -> None:
    """classviz explains a class `target`, or an inner channel or neuron (`layer` + `channel`): exactly one, and
    an `objective` that fits it."""
    if p.target is not None and (p.layer is not None or p.channel is not None):
        raise InvalidParameter("layer" if p.layer is not None else "channel",
                               "give either a class `target` or a `layer` and `channel`, not both")
    if p.objective == "class" and p.target is None:
        raise InvalidParameter("target", "objective=class needs a class `target` (index or label)")
    if p.target is None:
        if p.layer is None:
            raise InvalidParameter("target", "give a class `target` (index or label), or a `layer` and a "
                                             "`channel` to visualize an inner channel or neuron")
        if p.channel is None:
            raise InvalidParameter("channel", f"`channel` is required with `layer` ({p.layer})")
    elif p.objective not in (None, "class"):
        raise InvalidParameter("objective", f"objective={p.objective} needs a `layer` and `channel`, not a "
                                            "`target`")


@endpoint("classviz", target_or_neuron)
class ClassvizParams(Synthesis):
    """Images that a class score or an inner channel likes most (Simonyan et al. 2014, Yosinski et al. 2015)."""

    target: int | str | None = Target("the class to visualize, by index or label (or give `layer` + `channel`)",
                                      example=1)
    layer: str | None = Text("the layer of an inner channel to visualize instead of a class")
    channel: int | None = Int(None, 0, 65535, "the channel of `layer`")
    objective: str | None = Choice(None, KINDS, "what to maximize: a class score, a channel's mean, or one "
                                                "neuron (the channel at the centre); default: class with `target`, "
                                                "channel with `layer`")
    param: str = Choice("fourier", ("fourier", "pixel"), "fourier: Olah et al. 2017 (Lucid), a colour-decorrelated "
                                                        "spectrum with Adam under random pad, jitter, scale and "
                                                        "rotation; pixel: Yosinski et al. 2015")
    steps: int | None = Int(None, 1, 1000, "optimization steps (default: 256 for fourier, 100 for pixel)")
    size: int = Int(128, 32, MAX_SIDE, "side of the image, in px")
    lr: float | None = Float(None, 1e-5, 1.0, "learning rate: Adam's for fourier (default 0.005), the mean pixel "
                                              "change per step for pixel (default 0.05)")
    l2: float | None = Float(None, 0.0, 10.0, "L2 decay towards the mean image (default: 1e-3 for pixel, 0 for "
                                              "fourier)")
    blur_every: int | None = Int(None, 0, 1000, "blur every this many steps (default 4, 0: off)", only=PIXEL)
    blur_sigma: float | None = Float(0.5, 0.0, 5.0, "blur strength (Gaussian sigma in px)", only=PIXEL)
    jitter: int = Int(8, 0, 64, "random shift per step, in px")
    clip_norm_pct: float | None = Float(0.0, 0.0, 99.0, "zero pixels of the smallest norm, this percentile",
                                        only=PIXEL)
    clip_contrib_pct: float | None = Float(0.0, 0.0, 99.0, "zero pixels of the smallest contribution, this "
                                                           "percentile", only=PIXEL)
    count: int = Int(1, 1, 8, "images side by side (seeds `seed`, `seed+1`, ...)")
    diversity: float | None = Float(DIVERSITY, 0.0, 1e4, "weight of the diversity term (Olah et al. 2017) that "
                                                        "makes the images of one batch differ (count > 1)",
                                    only=("param", ("fourier",)))
    batch_size: int = Int(4, 1, 8, "images optimized together")


@endpoint("fooling")
class FoolingParams(Synthesis):
    """The smallest 8-bit change of a photo that makes the network see `target` (Szegedy et al. 2014)."""

    image: bytes = PHOTO
    target: int | str = Target("the class (index or label) the network should see", required=True, example=1)
    max_steps: int = Int(100, 1, 1000, "gradient steps at most")
    confidence: float = Float(0.9, 0.01, 0.9999, "stop once P(target) passes this")
    step_size: int = Int(1, 1, 16, "change per step, in levels of 255")
    max_change: int = Int(32, 1, 255, "largest change of any pixel, in levels of 255 (L-infinity cap)")
    magnify: float = Float(10.0, 1.0, 100.0, "contrast of the difference picture")
    size: int = Int(224, 32, MAX_SIDE, "shorter side of the photo, in px")
    view: str = Choice("fooled", ("fooled", "difference", "both"), "the fooled photo, the change, or both")


@endpoint("inversion")
class InversionParams(Synthesis):
    """A photo reconstructed from its features at a layer (Mahendran & Vedaldi 2015)."""

    image: bytes = PHOTO
    layer: str | None = Text("the layer whose features are matched (default: the backbone's middle stage; "
                             "describe: `layer_defaults`)")
    steps: int = Int(200, 1, 2000, "optimization steps")
    size: int = Int(128, 32, MAX_SIDE, "shorter side of the photo, in px")
    lr: float = Float(0.05, 1e-5, 1.0, LR)
    tv_weight: float = Float(0.1, 0.0, 100.0, "total-variation weight (smoothness)")
    alpha: float = Float(6.0, 1.0, 12.0, "exponent of the alpha-norm prior")
    alpha_weight: float = Float(1e-4, 0.0, 100.0, "weight of the alpha-norm prior")


@endpoint("deepdream")
class DeepdreamParams(Synthesis):
    """What a layer sees in a photo, amplified (octaves, jitter, an optional guide image)."""

    image: bytes = PHOTO
    guide: bytes | None = Image("dream towards this image's features instead", required=False)
    layer: str | None = Text("the layer whose activations are amplified (default: a stage two thirds in; "
                             "describe: `layer_defaults`)")
    octaves: int = Int(3, 1, 8, "scales, each `octave_scale` times the previous")
    octave_scale: float = Float(1.4, 1.05, 3.0, "size ratio between octaves")
    steps: int = Int(10, 1, 200, "gradient steps per octave")
    step_size: float = Float(0.01, 1e-5, 0.5, "normalized gradient step")
    jitter: int = Int(16, 0, 128, "random shift per step, in px")
    max_size: int = Int(MAX_SIDE, 32, 1024, "longer side of the dream, in px (never upscaled)")


@endpoint("texture")
class TextureParams(Synthesis):
    """A new texture of any size with the feature statistics of a sample (Gatys et al. 2015; Heitz et al. 2021)."""

    image: bytes = PHOTO
    size: int = Int(128, 32, MAX_SIDE, "side of the texture, in px (may exceed the sample's)")
    layers: tuple[str, ...] = declare(LAYERS, TEXTURE_LAYERS,
                                      f"comma-separated layers whose statistics are matched (`{PIXELS}`: the "
                                      "colours themselves)")
    loss: str = Choice("sliced", TEXTURE_LOSSES, "sliced Wasserstein (whole feature distributions, no saturated "
                                                 "blobs) or gram (Gram matrices, Gatys 2015)")
    palette: str = PALETTE  # the finished texture recoloured to the sample's colour distribution
    steps: int = Int(200, 1, 2000, "optimization steps")
    lr: float = Float(0.02, 1e-5, 1.0, LR)
    source_size: int = Int(256, 32, MAX_SIDE, "longer side of the sample, in px")
    backbone: str | None = DEFAULT_BACKBONE
