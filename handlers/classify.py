"""TorchServe entry point of `classify`: top-k ImageNet classes; /explanations/classify answers a saliency map."""
from __future__ import annotations

from typing import Any

from convlens import classify, inputs, params
from serving.base import ConvLensHandler
from serving.responses import encode_classification


class ClassifyHandler(ConvLensHandler):
    task = "classify"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        if explain:  # TorchServe's /explanations route: the saliency endpoint's schema and output
            return self.saliency(params.parse("saliency", fields))
        p = params.parse("classify", fields)
        backbone = self.check_backbone(p.backbone)
        pixels = inputs.classification_pixels(self.decode(p.image, min_side=backbone.preprocessing.resize),
                                              backbone.preprocessing)
        result = classify.classify(backbone, inputs.to_tensor(pixels)[None], p.topk)[0]
        return encode_classification(result, p.format)
