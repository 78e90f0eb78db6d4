"""TorchServe entry point of `embed`: one feature vector per image (penultimate layer, or a pooled named layer)."""
from __future__ import annotations

from typing import Any

from serving.specs import parse

from convlens.inspect import embedding
from serving.inspect import InspectHandler
from serving.responses_inspect import encode_embedding


class EmbedHandler(InspectHandler):
    task = "embed"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p = parse("embed", fields)
        backbone = self.check_backbone(p.backbone)
        pixels, names = self.squares(p.images, p.size)
        layer = self.layer_or_default(p.layer) if p.layer else None
        return encode_embedding(embedding.embed(backbone, pixels, names, layer, p.batch_size, self.deadline()),
                                p.format)
