"""TorchServe entry point of `filters`: a convolution's weights as pictures (first layer in colour)."""
from __future__ import annotations

from typing import Any

from convlens.inspect import filters
from serving.encode import encode
from serving.inspect import InspectHandler
from serving.specs.inspect import FiltersParams


class FiltersHandler(InspectHandler):
    task = "filters"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: FiltersParams = self.parse(fields)
        bank = filters.filter_bank(self.check_backbone(p.backbone), p.layer, p.max_filters, p.max_channels)
        return encode(bank, p.format)

    def describe(self) -> dict[str, Any]:
        assert self.backbone is not None
        return {**super().describe(), "first_convolution": filters.convolution(self.backbone, None)[0]}
