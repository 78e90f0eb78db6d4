"""TorchServe entry point of `saliency`: which pixels made the network decide (Simonyan et al. 2014)."""
from __future__ import annotations

from typing import Any

from convlens import attribution, params
from serving.base import ConvLensHandler


class SaliencyHandler(ConvLensHandler):
    task = "saliency"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        return self.saliency(params.parse("saliency", fields))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "methods": list(attribution.METHODS)}
