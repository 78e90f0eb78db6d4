"""Typed, validated parameters from the flat request map, whatever the transport.

Values arrive as bytes (gRPC input map, multipart files), str (form fields, query strings) or JSON scalars
(JSON bodies; images then come base64-encoded). Each endpoint has one parser; every error names its field.
"""
from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from convlens.core.colormaps import COLORMAPS
from convlens.core.errors import InvalidParameter

IMAGE_FORMATS = ("png", "jpeg")
MAX_TEXT = 256  # longest accepted text value (labels, names)
# Plain ASCII decimal only: Python's int()/float() also take '1_000', Unicode digits, 'nan' and 'infinity'.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class Fields:
    """Reads typed values out of a flat field map and remembers which fields were used."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = dict(raw)
        self.used: set[str] = set()

    def _get(self, name: str) -> Any:
        self.used.add(name)
        value = self.raw.get(name)
        return None if value is None or value == b"" or value == "" else value

    def present(self, name: str) -> bool:
        return self._get(name) is not None

    def text(self, name: str, default: str | None = None) -> str | None:
        """A short text value (bytes are decoded as UTF-8)."""
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, (bytes, bytearray)):
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidParameter(name, "must be UTF-8 text") from None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InvalidParameter(name, f"must be a text value, got {type(value).__name__}")
        value = str(value).strip()
        if len(value) > MAX_TEXT:
            raise InvalidParameter(name, f"is longer than {MAX_TEXT} characters")
        return value

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        """An integer in [lo, hi]; JSON numbers that are whole (3.0) are accepted."""
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            raise InvalidParameter(name, "must be an integer, got a boolean")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            text = self.text(name)
            try:
                if not _INTEGER.fullmatch(text):
                    raise ValueError(text)
                value = int(text, 10)
            except ValueError:
                raise InvalidParameter(name, f"must be an integer, got '{text[:40]}'") from None
        if not lo <= value <= hi:
            raise InvalidParameter(name, f"must be between {lo} and {hi}, got {value}")
        return value

    def number(self, name: str, default: float, lo: float, hi: float) -> float:
        """A finite float in [lo, hi]."""
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            raise InvalidParameter(name, "must be a number, got a boolean")
        if not isinstance(value, (int, float)):
            text = self.text(name)
            try:
                if not _NUMBER.fullmatch(text):
                    raise ValueError(text)
                value = float(text)
            except ValueError:
                raise InvalidParameter(name, f"must be a finite number, got '{text[:40]}'") from None
        if not math.isfinite(value) or not lo <= value <= hi:
            raise InvalidParameter(name, f"must be a finite number between {lo} and {hi}, got {value}")
        return float(value)

    def choice(self, name: str, default: str, choices: tuple[str, ...] | list[str]) -> str:
        """One of a fixed set of names (case-insensitive)."""
        value = self.text(name)
        if value is None:
            return default
        value = value.lower()
        if value not in choices:
            raise InvalidParameter(name, f"must be one of {', '.join(choices)}; got '{value}'")
        return value

    def class_target(self, name: str) -> int | str | None:
        """A class given by index (digits) or by label (text); resolved against the backbone's labels later."""
        value = self._get(name)
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = self.text(name)
        return int(text) if text.lstrip("-").isdigit() else text

    def image(self, name: str, aliases: tuple[str, ...] = ()) -> bytes:
        """Encoded image bytes; text values (JSON bodies) are base64, optionally as a data: URL."""
        value = None
        for key in (name, *aliases):
            value = self._get(key)
            if value is not None:
                break
        if value is None:
            raise InvalidParameter(name, "is required: send an encoded image (PNG, JPEG, WebP, ...)")
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if isinstance(value, str):
            if value.startswith("data:") and "," in value:
                value = value.split(",", 1)[1]
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise InvalidParameter(name, "text image values must be base64-encoded bytes") from None
        raise InvalidParameter(name, f"must be an encoded image, got {type(value).__name__}")

    def reject_unknown(self, ignored: tuple[str, ...] = ()) -> None:
        """Unknown fields are errors (a typo such as 'tagret' must not silently fall back to a default)."""
        unknown = sorted(set(self.raw) - self.used - set(ignored))
        if unknown:
            raise InvalidParameter(unknown[0], f"unknown field '{unknown[0]}'; this endpoint accepts: "
                                               f"{', '.join(sorted(self.used))}")


@dataclass(frozen=True)
class ClassifyParams:
    image: bytes
    topk: int = 5
    format: str = "json"
    backbone: str | None = None


@dataclass(frozen=True)
class SaliencyParams:
    """`saliency`: what to explain and how to render it; `params_attribution.parse_saliency` adds the explained
    neuron (layer + channel) and the method's own options."""

    image: bytes
    target: int | str | None = None
    method: str = "gradient"
    size: int = 224
    view: str = "heatmap"
    colormap: str = "inferno"
    format: str = "png"
    backbone: str | None = None
    neuron: Any = None  # attribution_base.Neuron, or None for a class
    options: dict[str, Any] = field(default_factory=dict)


TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
STREAM = "stream"  # progress=stream: the gRPC StreamPredictions opt-in (serving/progress.py)


def flag(fields: Fields, name: str, default: bool = False, also_true: tuple[str, ...] = ()) -> bool:
    """A boolean: true/false, 1/0, yes/no, on/off (JSON booleans too); `also_true` adds accepted spellings."""
    value = fields._get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = (fields.text(name) or "").strip().lower()
    if text in TRUE or text in also_true:
        return True
    if text in FALSE:
        return False
    raise InvalidParameter(name, f"must be true or false, got '{text[:40]}'")


def progress_flag(fields: Fields) -> bool:
    """`progress`: stream progress events (true, or `stream` as gRPC StreamPredictions calls say it)."""
    return flag(fields, "progress", also_true=(STREAM,))


def parse_classify(fields: Fields) -> ClassifyParams:
    return ClassifyParams(
        image=fields.image("image", aliases=("body", "data")),
        topk=fields.integer("topk", 5, 1, 100),
        format=fields.choice("format", "json", ("json", "proto")),
        backbone=fields.text("backbone"),
    )


def saliency_methods() -> tuple[str, ...]:
    from convlens.attribution.methods import METHODS

    return tuple(METHODS)


def parse_saliency(fields: Fields) -> SaliencyParams:
    params = SaliencyParams(
        image=fields.image("image", aliases=("body", "data")),
        target=fields.class_target("target"),
        method=fields.choice("method", "gradient", saliency_methods()),
        size=fields.integer("size", 224, 32, 512),
        view=fields.choice("view", "heatmap", ("heatmap", "overlay")),
        colormap=fields.choice("colormap", "inferno", tuple(COLORMAPS)),
        format=fields.choice("format", "png", ("png", "jpeg", "json", "npy", "proto")),
        backbone=fields.text("backbone"),
    )
    return params  # layer/channel/method options: params_attribution.parse_saliency


PARSERS: dict[str, Callable[[Fields], Any]] = {"classify": parse_classify, "saliency": parse_saliency}
from convlens.params_attribution import PARSERS as _ATTRIBUTION_PARSERS  # noqa: E402 (needs Fields above)

PARSERS.update(_ATTRIBUTION_PARSERS)


def _register_style() -> None:
    from convlens.params_style import parse_style_transfer, parse_stylize

    PARSERS.update(style_transfer=parse_style_transfer, stylize=parse_stylize)


_register_style()


def parse(task: str, raw: Mapping[str, Any], ignored: tuple[str, ...] = ()) -> Any:
    """Typed parameters of endpoint `task` from its flat field map; InvalidParameter names the bad field."""
    fields = Fields(raw)
    params = PARSERS[task](fields)
    fields.reject_unknown(ignored)
    return params

from convlens.params_inspect import PARSERS as INSPECT_PARSERS  # noqa: E402  (filters, activations, top_patches, ...)

PARSERS.update(INSPECT_PARSERS)
from convlens.params_synthesis import SYNTHESIS_PARSERS  # noqa: E402 - registers classviz, fooling, ... (needs Fields)

PARSERS.update(SYNTHESIS_PARSERS)
