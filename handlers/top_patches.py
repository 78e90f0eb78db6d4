"""TorchServe entry point of `top_patches`: the image patches that drive one channel hardest (Zeiler & Fergus)."""
from __future__ import annotations

from typing import Any

from convlens.inspect import patches
from serving.encode import encode
from serving.inspect import InspectHandler
from serving.specs.inspect import TopPatchesParams


class TopPatchesHandler(InspectHandler):
    task = "top_patches"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: TopPatchesParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        pixels, names = self.squares(p.images, p.size)
        layer = self.layer_or_default(backbone, p.layer, patches=True)
        result = patches.top_patches(backbone, pixels, names, layer, p.channel, p.top, p.per_image, p.guided,
                                     p.batch_size, self.deadline())
        return encode(result, p.format, patch=p.patch, input_size=p.size)
