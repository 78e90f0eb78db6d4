"""ConvLens client SDK: classify and explain images with a ConvLens server over HTTP or gRPC.

>>> from convlens_client import Client
>>> with Client() as client:                      # token from CONVLENS_TOKEN or key_file.json
...     top = client.classify("cat.jpg", topk=3)  # [Prediction(index=285, label=..., ...), ...]
...     heat = client.saliency("cat.jpg")          # Heatmap; heat.array is HxW float32
"""

from __future__ import annotations

from .client import Client
from .errors import (
    Busy,
    ConvLensError,
    InvalidRequest,
    NotFound,
    ServerError,
    TooLarge,
    Unauthorized,
    Unsupported,
)
from .results import Heatmap, Prediction
from .results_synthesis import ImageResult, SynthesisResult
from .streaming import Progress

__version__ = "0.1.0"

__all__ = [
    "Busy",
    "Client",
    "ConvLensError",
    "Heatmap",
    "ImageResult",
    "InvalidRequest",
    "NotFound",
    "Prediction",
    "Progress",
    "ServerError",
    "SynthesisResult",
    "TooLarge",
    "Unauthorized",
    "Unsupported",
    "__version__",
]
