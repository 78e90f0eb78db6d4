"""TorchServe entry point of `neighbors`: a gallery ranked by feature distance and by pixel distance to a query."""
from __future__ import annotations

from typing import Any

from convlens.inspect import embedding
from serving.encode import encode
from serving.inspect import InspectHandler
from serving.specs.inspect import NeighborsParams


class NeighborsHandler(InspectHandler):
    task = "neighbors"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: NeighborsParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        query = self.square(p.query, p.size, "image")
        gallery, names = self.squares(p.gallery, p.size)
        layer = self.layer_or_default(backbone, p.layer) if p.layer else None
        result = embedding.neighbors(backbone, query, gallery, names, p.metric, layer, p.top, p.batch_size,
                                     self.deadline())
        return encode(result, p.format, thumb=p.thumb)
