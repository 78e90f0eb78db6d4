"""ConvLens client SDK: classify and explain images with a ConvLens server over HTTP or gRPC.

>>> from convlens_client import Client
>>> with Client() as client:                      # token from CONVLENS_TOKEN or key_file.json
...     top = client.classify("cat.jpg", topk=3)  # [Prediction(index=285, label=..., ...), ...]
...     heat = client.saliency("cat.jpg")          # Heatmap; heat.array is HxW float32
"""

from __future__ import annotations

from .async_client import AsyncClient
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
from .results import (
    ActivationMaps,
    ChannelStat,
    Classification,
    Embedding,
    Faithfulness,
    FilterBank,
    Heatmap,
    ImageResult,
    Layout,
    ModelStatus,
    Neighbor,
    Neighbors,
    OcclusionMap,
    Patch,
    Point,
    Prediction,
    Segmentation,
    StyleTransferResult,
    StylizeResult,
    SynthesisResult,
    TopPatches,
)
from .transport import Connection
from .transport.retry import RetryPolicy
from .transport.streaming import Progress
from .transport.tls import TLSConfig

__version__ = "0.1.0"

__all__ = [
    "ActivationMaps",
    "AsyncClient",
    "Busy",
    "ChannelStat",
    "Classification",
    "Client",
    "Connection",
    "ConvLensError",
    "Embedding",
    "Faithfulness",
    "FilterBank",
    "Heatmap",
    "ImageResult",
    "InvalidRequest",
    "Layout",
    "ModelStatus",
    "Neighbor",
    "Neighbors",
    "NotFound",
    "OcclusionMap",
    "Patch",
    "Point",
    "Prediction",
    "Progress",
    "RetryPolicy",
    "Segmentation",
    "ServerError",
    "StyleTransferResult",
    "StylizeResult",
    "SynthesisResult",
    "TLSConfig",
    "TooLarge",
    "TopPatches",
    "Unauthorized",
    "Unsupported",
    "__version__",
]
