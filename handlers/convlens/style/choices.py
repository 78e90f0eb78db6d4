"""The optimization transfer's choices, without torch: the style spec reads them, and the spec module is shared with
the ONNX-only `stylize` worker, which never imports torch."""
from __future__ import annotations

STYLE_LOSSES = ("sliced", "gram")
DEFAULT_STYLE_WEIGHT = {"sliced": 10.0, "gram": 10.0}  # per style loss: the loss scales differ
