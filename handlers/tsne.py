"""TorchServe entry point of `tsne`: images laid out by t-SNE or PCA of their features, scattered or on a grid."""
from __future__ import annotations

from typing import Any

from convlens.inspect import embedding
from serving.encode import encode
from serving.inspect import InspectHandler
from serving.specs.inspect import TsneParams


class TsneHandler(InspectHandler):
    task = "tsne"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: TsneParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        pixels, names = self.squares(p.images, p.size)
        layer = self.layer_or_default(backbone, p.layer) if p.layer else None
        result = embedding.tsne_layout(backbone, pixels, names, p.method, p.perplexity, p.seed, p.iterations, layer,
                                       p.batch_size, self.deadline())
        return encode(result, p.format, view=p.view, canvas=p.canvas, thumb=p.thumb)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "methods": self.spec.choices("method"), "views": self.spec.choices("view")}
