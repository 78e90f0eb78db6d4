"""What feature visualization maximizes, as one type: a class logit, a channel's mean activation, or one neuron
(a channel at the centre of its layer); and the diversity term of Olah et al. 2017 that pushes a batch of
images apart in style (Gram matrices) so that they show different facets of the same objective."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from convlens.core.backbones import Backbone
from convlens.core.errors import InvalidParameter

from .common import features, gram

KINDS = ("class", "channel", "neuron")
DIVERSITY = 10.0  # default weight: at 100 the objective fell below its start, at 10 it kept ~80 % (issue 17)


@dataclass(frozen=True)
class Objective:
    """`kind` class: the unnormalized score of `target`; channel: the mean of `channel` at `layer`; neuron: that
    channel at the centre position only. Without a `kind`, a `target` means class and a `layer` means channel."""

    target: int | None = None
    layer: str | None = None
    channel: int | None = None
    kind: str = ""

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", "class" if self.target is not None else "channel")

    def check(self, backbone: Backbone) -> None:
        """400 before any work when the objective is incomplete or names an unknown layer."""
        if self.kind not in KINDS:
            raise InvalidParameter("objective", f"one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "class" and self.target is None:
            raise InvalidParameter("target", "give a class `target`, or a `layer` and a `channel`")
        if self.kind != "class":
            if self.layer is None or self.channel is None:
                raise InvalidParameter("layer" if self.layer is None else "channel",
                                       f"objective={self.kind} needs a `layer` and a `channel`")
            backbone.layer(self.layer)

    def score(self, backbone: Backbone, x01: torch.Tensor, extra: str | None = None
              ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Per-image objective (N,), the logits for a class objective, and layer `extra`'s output when asked."""
        wanted = [name for name in (self.layer if self.kind != "class" else None, extra) if name]
        acts, logits = features(backbone, x01, wanted, logits=self.kind == "class")
        more = acts[extra] if extra else None
        if self.kind == "class":
            assert logits is not None and self.target is not None
            return logits[:, self.target], logits, more
        assert self.layer is not None and self.channel is not None
        act = acts[self.layer]
        if not 0 <= self.channel < act.shape[1]:
            raise InvalidParameter("channel", f"layer {self.layer} has channels 0..{act.shape[1] - 1}, "
                                              f"got {self.channel}")
        plane = act[:, self.channel]
        if self.kind == "neuron":
            return plane[:, plane.shape[1] // 2, plane.shape[2] // 2], None, more
        return plane.flatten(1).mean(dim=1), None, more


def diversity(feature: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity between the Gram matrices of every pair of images in the batch (N, C, H, W): 0 for
    one image; subtracted from the objective, it makes the images differ in which features co-occur."""
    n = feature.shape[0]
    if n < 2:
        return feature.new_zeros(())
    grams = F.normalize(gram(feature).flatten(1), dim=1)
    similarity = grams @ grams.T
    return (similarity.sum() - similarity.diagonal().sum()) / (n * (n - 1))


__all__ = ["DIVERSITY", "KINDS", "Objective", "diversity"]
