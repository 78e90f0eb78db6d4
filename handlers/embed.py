"""TorchServe entry point of `embed`: one feature vector per image (penultimate layer, or a pooled named layer)."""
from __future__ import annotations

from typing import Any

from convlens.inspect import embedding
from serving.encode import encode
from serving.inspect import InspectHandler
from serving.specs.inspect import EmbedParams


class EmbedHandler(InspectHandler):
    task = "embed"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: EmbedParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        pixels, names = self.squares(p.images, p.size)
        layer = self.layer_or_default(backbone, p.layer) if p.layer else None
        return encode(embedding.embed(backbone, pixels, names, layer, p.batch_size, self.deadline()), p.format)
