"""The backbones one worker serves: the configured default, always loaded, and the models users registered
(`convlens-models add`, packed into the archive's models folder), each loaded on its first request and kept among
at most `capacity` of them, least recently used first out, so memory stays bounded however many are registered."""
from __future__ import annotations

import gc
import logging
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from convlens.core import user_models
from convlens.core.backbones import Backbone
from convlens.core.errors import ConvLensError, InvalidParameter

logger = logging.getLogger(__name__)


class BackboneShelf:
    """Backbones by name: `get` answers the default or a registered model (loading it lazily), else a 400."""

    def __init__(self, default: Backbone, folder: Path | None = None, capacity: int = 2) -> None:
        self.default = default
        self.folder = folder
        self.records: dict[str, user_models.ModelRecord] = {}
        if folder is not None:
            try:
                self.records = user_models.read_registry(folder)
            except Exception as exc:  # noqa: BLE001 - a broken registry costs the registered models, not the default
                logger.error("the registered models in %s cannot be read, serving the default only: %s", folder, exc)
        self.capacity = capacity
        self.loaded: OrderedDict[str, Backbone] = OrderedDict()

    def names(self) -> list[str]:
        """Every backbone a request may name, the default first."""
        return [self.default.name, *sorted(self.records)]

    def get(self, name: str | None, field: str = "backbone") -> Backbone:
        """The named backbone (None or "": the default); a name not served is a 400 listing the served ones."""
        if not name or name == self.default.name:
            return self.default
        if name in self.loaded:
            self.loaded.move_to_end(name)
            return self.loaded[name]
        if name not in self.records:
            raise InvalidParameter(field, f"backbone '{name}' is not served by this endpoint; available: "
                                          f"{', '.join(self.names())}")
        return self.load(name)

    def load(self, name: str) -> Backbone:
        """Load registered model `name`, first unloading the least recently used one past `capacity`."""
        assert self.folder is not None
        while len(self.loaded) >= self.capacity:
            evicted, _ = self.loaded.popitem(last=False)
            logger.info("unloading registered model %s (at most %d kept)", evicted, self.capacity)
            gc.collect()
        started = time.perf_counter()
        try:
            backbone = user_models.load_user_backbone(self.records[name], self.folder, self.default.device)
        except Exception as exc:  # noqa: BLE001 - the deployment's fault, not the caller's: one clear 500
            logger.error("registered model %s cannot be loaded: %s", name, exc)
            raise ConvLensError(f"registered model '{name}' cannot be loaded on this server", code=500,
                                type="ModelUnavailable") from exc
        self.loaded[name] = backbone
        logger.info("registered model %s loaded in %.1fs", name, time.perf_counter() - started)
        return backbone

    def describe(self) -> dict[str, Any]:
        """What describe lists of each backbone: labels of registered models, their layers and preprocessing."""
        out: dict[str, Any] = {self.default.name: {"num_classes": len(self.default.labels), "registered": False}}
        for name, record in sorted(self.records.items()):
            prep = record.preprocessing
            out[name] = {"registered": True, "arch": record.arch, "num_classes": len(record.labels),
                         "labels": list(record.labels), "layers": list(record.layers),
                         "default_layer": record.default_layer,
                         "layer_defaults": user_models.layer_defaults(record.layers), "loaded": name in self.loaded,
                         "preprocessing": {"size": prep.crop, "resize": prep.resize, "mean": list(prep.mean),
                                           "std": list(prep.std), "channels": prep.channels}}
        return out
