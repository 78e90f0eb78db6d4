"""The `convlens:` section of model_store/<endpoint>.yaml as one typed, frozen EndpointConfig, checked once when a
worker loads: an unknown key or a value of the wrong type fails the load with a message naming the key and file."""
from __future__ import annotations

import dataclasses
import difflib
import logging
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from convlens.core import images
from convlens.stylize import runtime

logger = logging.getLogger(__name__)

DEPRECATED = {"max_seconds": "time_budget_s"}  # old key -> its key now (still read, with a warning)
MAY_BE_ZERO = ("torch_threads", "onnx_threads")  # 0 = the library's default thread count


class ConfigError(ValueError):
    """A model YAML's `convlens:` section the handler cannot run with (the message names the key and the file)."""


@dataclass(frozen=True)
class EndpointConfig:
    """Every handler setting of an endpoint (YAML key `convlens:`), each default declared here and only here."""

    backbone: str | None = None  # None: the engine's default (backbones.DEFAULT_BACKBONE); stylize loads none
    weights: str | None = None  # torchvision weights file: relative to the archive, or an absolute path
    models: str = "models"  # registered models' folder in the archive (= user_models.FOLDER; no torch here)
    max_loaded_models: int = 2  # registered models kept loaded per worker at once (least recently used unloaded)
    torch_threads: int = 0  # 0 = torch's default (all cores)
    max_image_bytes: int = images.DEFAULT_LIMITS.max_bytes  # per image field
    max_image_pixels: int = images.DEFAULT_LIMITS.max_pixels
    max_image_side: int = images.DEFAULT_LIMITS.max_side
    time_budget_s: float = 50.0  # wall time per request, below the YAML's responseTimeout; 413 past it
    max_steps: int = 300  # style_transfer: optimizer iterations per request
    max_size: int = 512  # style_transfer: longest output side
    stylizers: str = "stylizers"  # stylize: folder of ONNX stylizers + manifests, relative to the archive
    onnx_threads: int = 0  # stylize: ONNX Runtime intra-op threads; 0 = all cores
    tile: int = runtime.TILE  # stylize: tile core side for large images
    max_output_side: int = 4096  # stylize: longest side stylized; larger inputs are downscaled to it
    style_cache_entries: int = 1024  # stylize: style vectors of style images kept (by content hash)
    style_cache_bytes: int = 4 << 20  # stylize: ... and their bytes at most (ids + float32 vectors, ~0.5 kB each)

    @property
    def limits(self) -> images.ImageLimits:
        """The image decoding limits of this endpoint."""
        return images.ImageLimits(max_bytes=self.max_image_bytes, max_pixels=self.max_image_pixels,
                                  max_side=self.max_image_side)

    @classmethod
    def parse(cls, section: Mapping[str, Any] | None, source: str) -> EndpointConfig:
        """The `convlens:` mapping of the YAML file `source` (named in errors) -> a checked EndpointConfig."""
        if section is None:
            return cls()
        if not isinstance(section, Mapping):
            raise ConfigError(f"{source}: `convlens:` must be a mapping of settings, not {type(section).__name__}")
        values = dict(section)
        for old, new in DEPRECATED.items():
            if old in values:
                if new in values:
                    raise ConfigError(f"{source}: convlens.{old} is the deprecated name of convlens.{new}; "
                                      f"give only {new}")
                logger.warning("%s: convlens.%s is deprecated; name it %s", source, old, new)
                values[new] = values.pop(old)
        hints = typing.get_type_hints(cls)
        known = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in hints:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ConfigError(f"{source}: unknown key convlens.{key}{hint}; known keys: {', '.join(known)}")
        return cls(**{key: checked(key, value, hints[key], source) for key, value in values.items()})


def checked(key: str, value: Any, hint: Any, source: str) -> Any:
    """`value` as the field's type (an int is a float too; a boolean is no number), or a ConfigError."""
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) != (bool in allowed) or not isinstance(value, allowed):
        names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
        raise ConfigError(f"{source}: convlens.{key} must be {names}, not {value!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        least = 0 if key in MAY_BE_ZERO else None
        if value < 0 or (least is None and value == 0):
            raise ConfigError(f"{source}: convlens.{key} must be {'>= 0' if least == 0 else '> 0'}, not {value!r}")
    return value


def yaml_name(context: Any, task: str) -> str:
    """The model YAML's file name as archived (TorchServe's manifest), for messages; else `<task>.yaml`."""
    manifest = getattr(context, "manifest", None) or {}
    return (manifest.get("model") or {}).get("configFile") or f"{task}.yaml"
