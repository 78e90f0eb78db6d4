"""TorchServe entry point of `activations`: every channel of a layer for one image, most active first."""
from __future__ import annotations

from typing import Any

from convlens.core import inputs
from convlens.core.errors import InvalidParameter
from convlens.inspect import activations
from serving.encode import encode
from serving.inspect import InspectHandler
from serving.specs.inspect import ActivationsParams


class ActivationsHandler(InspectHandler):
    task = "activations"

    def run(self, fields: dict[str, Any], explain: bool) -> tuple[bytes, str]:
        p: ActivationsParams = self.parse(fields)
        backbone = self.check_backbone(p.backbone)
        pixels = inputs.explanation_pixels(self.decode(p.image, min_side=p.size), p.size)
        maps = activations.activations(backbone, pixels, self.layer_or_default(backbone, p.layer))
        if p.channel is not None and p.channel >= len(maps.values):
            raise InvalidParameter("channel", f"must be between 0 and {len(maps.values) - 1} for layer "
                                              f"'{maps.layer}'")
        return encode(maps, p.format, channel=p.channel, max_tiles=p.max_tiles)
