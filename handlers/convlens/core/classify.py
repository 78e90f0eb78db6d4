"""Classification: a batch of images -> top-k ImageNet classes with probabilities."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from . import inputs
from .backbones import Backbone
from .results import Classification, Prediction


def predictions_from_logits(backbone: Backbone, logits: torch.Tensor,
                            indices: torch.Tensor | Sequence[int]) -> list[Prediction]:
    """Predictions for the given class indices of one image's logits (1-D)."""
    probs = torch.softmax(logits.float(), dim=-1)
    return [Prediction(index=int(i), label=backbone.labels[int(i)], probability=float(probs[i]),
                       score=float(logits[i])) for i in indices]


@torch.inference_mode()
def classify(backbone: Backbone, pixels01: torch.Tensor, topk: int = 5) -> list[Classification]:
    """Top-`topk` classes for each image of an (N, 3, H, W) batch of pixels in [0, 1], in one forward pass."""
    logits = backbone.model(backbone.normalize(pixels01.to(backbone.device)))
    top = torch.topk(logits, k=min(topk, logits.shape[-1]), dim=-1).indices
    return [Classification(predictions_from_logits(backbone, logits[n], top[n]), backbone.name)
            for n in range(logits.shape[0])]


@torch.inference_mode()
def classify_logits(backbone: Backbone, pixels: np.ndarray) -> torch.Tensor:
    """The logits (1-D) `classify` answers for an HxWx3 uint8 image: its resize and crop recipe, as it runs them."""
    crop = inputs.classification_pixels(Image.fromarray(pixels), backbone.preprocessing)
    return backbone.model(backbone.normalize(inputs.to_tensor(crop)[None].to(backbone.device)))[0]
