"""Any style image, in one feed-forward pass: the arbitrary-style network (Ghiasi et al. 2017) in ONNX Runtime.

A style prediction graph (`encoder_file` of the manifest, kind "arbitrary") turns a style image into a vector of
`embedding + 1` floats, [e, 1]; the transformer (the manifest's own graphs, run by `runtime` like every stylizer,
tiles included) takes that vector through its `weights` input. A style is encoded once: vectors are cached by the
style image's content hash (`style_id`), bounded in entries and bytes. Several styles mix by their weights (a
convex combination of vectors, as Ghiasi interpolates), and `alpha` < 1 moves the mix toward the photo's own
vector (the content-style trade-off of Ghiasi et al., Fig. 7).
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convlens.core.errors import ConvLensError

from . import runtime

ID_LENGTH = 32  # hex digits of the SHA-256 content hash that name a style (128 bits)
MAX_ASPECT = 4  # a style image longer than this times its short side is centre-cropped before encoding


class StyleNotCached(ConvLensError):
    """A `style_id` the server does not hold (never sent, or evicted): send the style image again (404)."""

    def __init__(self, style_id: str) -> None:
        super().__init__(message=f"style_id '{style_id}' is not cached on this server (evicted or never sent): "
                                 "send the style image instead", field="style_id", code=404, type="StyleNotCached")


def style_id(data: bytes) -> str:
    """The id of a style image: its encoded bytes' SHA-256, first ID_LENGTH hex digits (clients can compute it)."""
    return hashlib.sha256(data).hexdigest()[:ID_LENGTH]


def style_pixels(image: np.ndarray, side: int, stride: int) -> np.ndarray:
    """HxWx3 uint8 -> (1, 3, h, w) float32 in [0, 1]: short side `side` (the encoder's training scale), both sides
    multiples of `stride` (what the exported graph is exact for), the long side at most MAX_ASPECT x the short."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = side / min(h, w)
    nh, nw = (max(stride, round(v * scale / stride) * stride) for v in (h, w))
    a = np.asarray(Image.fromarray(image).resize((nw, nh), Image.Resampling.LANCZOS))
    limit = MAX_ASPECT * side
    top, left = max(0, (nh - limit) // 2), max(0, (nw - limit) // 2)
    a = a[top:top + min(nh, limit), left:left + min(nw, limit)]
    return (a.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy()


class VectorCache:
    """Least-recently-used style vectors by id, bounded in entries and in bytes (keys and vectors); thread-safe."""

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = self.misses = 0

    @staticmethod
    def _size(key: str, vector: np.ndarray) -> int:
        return len(key) + vector.nbytes

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            vector = self._items.get(key)
            if vector is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return vector

    def put(self, key: str, vector: np.ndarray) -> None:
        size = self._size(key, vector)
        with self._lock:
            if key in self._items:
                self.bytes -= self._size(key, self._items.pop(key))
            if size > self.max_bytes or self.max_entries < 1:
                return
            self._items[key] = vector
            self.bytes += size
            while len(self._items) > self.max_entries or self.bytes > self.max_bytes:
                old_key, old = self._items.popitem(last=False)
                self.bytes -= self._size(old_key, old)

    def __len__(self) -> int:
        return len(self._items)

    def describe(self) -> dict[str, int]:
        return {"entries": len(self), "bytes": self.bytes, "max_entries": self.max_entries,
                "max_bytes": self.max_bytes, "hits": self.hits, "misses": self.misses}


@dataclass(frozen=True)
class StyleSource:
    """One style of a request: its id and, when the request sent the image, a way to decode it (None: id only)."""

    id: str
    pixels: Callable[[], np.ndarray] | None = None  # HxWx3 uint8, decoded only on a cache miss


class ArbitraryStylizer:
    """The transformer (`model`, run by `runtime`), its style encoder graph and the cache of style vectors."""

    def __init__(self, model: runtime.StylizerModel, cache: VectorCache) -> None:
        self.model = model
        self.cache = cache
        manifest = model.manifest
        self.encoder_path = Path(model.path).parent / manifest["encoder_file"]
        self.side = int(manifest["encoder_style_size"])
        self.stride = int(manifest["encoder_stride"])
        self._session: Any = None
        self._lock = threading.Lock()

    def encode(self, image: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 -> its style vector [e, 1] (float32, embedding + 1), by the style prediction graph."""
        with self._lock:
            if self._session is None:
                self._session = self.model.open_graph(self.encoder_path)
        return self._session.run(["vector"], {"image": style_pixels(image, self.side, self.stride)})[0][0]

    def vector_of(self, source: StyleSource) -> np.ndarray:
        """The cached vector of one style, encoded (and cached) on a miss; StyleNotCached for an unknown bare id."""
        vector = self.cache.get(source.id)
        if vector is None:
            if source.pixels is None:
                raise StyleNotCached(source.id)
            vector = self.encode(source.pixels())
            self.cache.put(source.id, vector)
        return vector

    def mix(self, sources: Sequence[StyleSource], weights: Sequence[float] | None = None, alpha: float = 1.0,
            content: np.ndarray | None = None) -> tuple[np.ndarray, list[float]]:
        """The transformer's `weights` input for these styles: their vectors mixed by the normalized `weights`,
        then moved toward the content's own vector by 1 - `alpha`; and the normalized weights."""
        w = np.asarray(weights if weights is not None else [1.0] * len(sources), np.float64)
        w = w / w.sum()
        vector = sum(float(wi) * self.vector_of(s).astype(np.float64) for wi, s in zip(w, sources))
        if alpha < 1.0:
            assert content is not None, "alpha < 1 needs the content image"
            vector = alpha * vector + (1.0 - alpha) * self.encode(content).astype(np.float64)
        return np.asarray(vector, np.float32), w.tolist()

    def describe(self) -> dict[str, Any]:
        m = self.model.manifest
        return {"name": m["name"], "embedding": m.get("embedding"), "steps": m.get("steps"),
                "recipe": m.get("recipe"), "style_size": self.side, "cache": self.cache.describe()}
