"""Feature vectors of images (embed), nearest neighbours in feature vs pixel space, and 2-D layouts (t-SNE/PCA).

The default feature is the penultimate layer: the input of the classifier's last linear layer (after global
pooling), read with a forward pre-hook; a named layer is global-average-pooled instead. A model whose modules
cannot be seen (TorchScript) gives its class scores.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from convlens.core.backbones import Backbone
from convlens.core.errors import InvalidParameter
from convlens.core.progress import Deadline

from .activations import Reached, layer_output, to_batch01
from .results import Embedding, Layout, Neighbor, Neighbors


def last_linear(model: nn.Module) -> nn.Linear:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise InvalidParameter("layer", "the backbone has no linear classifier: name a layer")
    return linears[-1]


def _penultimate(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    if isinstance(model, torch.jit.ScriptModule):  # no hooks on TorchScript: its class scores are its features
        return model(x).flatten(1)
    captured = {}

    def hook(_module, inputs):
        captured["in"] = inputs[0]
        raise Reached

    handle = last_linear(model).register_forward_pre_hook(hook)
    try:
        model(x)
    except Reached:
        pass
    finally:
        handle.remove()
    return captured["in"].flatten(1)


@torch.inference_mode()
def features(backbone: Backbone, pixels: Sequence[np.ndarray] | np.ndarray, layer: str | None = None,
             batch_size: int = 16, deadline: Deadline | None = None) -> np.ndarray:
    """(N, D) float32 features of equal-size HxWx3 uint8 images, `batch_size` images per forward pass."""
    x01 = to_batch01(pixels, backbone.device)
    module = backbone.layer(layer) if layer else None
    out = []
    for start in range(0, len(x01), batch_size):
        x = backbone.normalize(x01[start:start + batch_size])
        vectors = _penultimate(backbone.model, x) if module is None else \
            layer_output(backbone.model, module, x).mean(dim=(2, 3))
        out.append(vectors.float().cpu().numpy())
        if deadline is not None:
            deadline.check()
    return np.concatenate(out)


def embed(backbone: Backbone, pixels: Sequence[np.ndarray], names: Sequence[str], layer: str | None = None,
          batch_size: int = 16, deadline: Deadline | None = None) -> Embedding:
    return Embedding(vectors=features(backbone, pixels, layer, batch_size, deadline), names=list(names),
                     layer=layer or "", backbone=backbone.name)


def distances(query: np.ndarray, gallery: np.ndarray, metric: str) -> np.ndarray:
    """Distance of each gallery row to the query: 'cosine' (1 - cosine similarity) or 'l2' (Euclidean)."""
    q, g = np.asarray(query, np.float64).ravel(), np.asarray(gallery, np.float64).reshape(len(gallery), -1)
    if metric == "l2":
        return np.sqrt(((g - q) ** 2).sum(axis=1))
    if metric == "cosine":
        norms = np.linalg.norm(g, axis=1) * np.linalg.norm(q)
        return 1.0 - (g @ q) / np.where(norms > 0, norms, 1.0)
    raise InvalidParameter("metric", f"unknown metric '{metric}'")


def pixel_distances(query: np.ndarray, gallery: Sequence[np.ndarray]) -> np.ndarray:
    """Root-mean-square difference of pixels in [0, 1] (the lecture's pixel-space L2, per pixel)."""
    q = np.asarray(query, np.float64) / 255.0
    return np.array([math.sqrt(float(((np.asarray(g, np.float64) / 255.0 - q) ** 2).mean())) for g in gallery])


def _ranked(d: np.ndarray, names: Sequence[str], top: int) -> list[Neighbor]:
    order = np.argsort(d, kind="stable")[:top]
    return [Neighbor(index=int(i), name=names[i], distance=float(d[i])) for i in order]


def neighbors(backbone: Backbone, query: np.ndarray, gallery: Sequence[np.ndarray], names: Sequence[str],
              metric: str = "cosine", layer: str | None = None, top: int | None = None, batch_size: int = 16,
              deadline: Deadline | None = None) -> Neighbors:
    """The gallery ranked by feature distance to the query, and by pixel distance, nearest first."""
    vectors = features(backbone, [query, *gallery], layer, batch_size, deadline)
    feat = distances(vectors[0], vectors[1:], metric)
    pix = pixel_distances(query, gallery)
    top = top or len(gallery)
    return Neighbors(by_feature=_ranked(feat, names, top), by_pixel=_ranked(pix, names, top), metric=metric,
                           layer=layer or "", backbone=backbone.name, query=query, gallery=list(gallery),
                           feature_distances=feat.astype(np.float32), pixel_distances=pix.astype(np.float32))


def _unit_square(points: np.ndarray) -> np.ndarray:
    lo, hi = points.min(axis=0), points.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    out = (points - lo) / span
    out[:, hi <= lo] = 0.5
    return out.astype(np.float32)


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """The first two principal components of the rows (zeros where there are fewer)."""
    centred = np.asarray(vectors, np.float64) - np.mean(vectors, axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    coords = np.zeros((len(vectors), 2))
    k = min(2, len(s))
    coords[:, :k] = u[:, :k] * s[:k]
    return coords


def clamp_perplexity(perplexity: float, n: int) -> float:
    """t-SNE needs perplexity < n; use at most (n - 1) / 3 (each point then has ~3 x perplexity neighbours), >= 1."""
    return float(max(1.0, min(perplexity, (n - 1) / 3.0)))


def tsne_2d(vectors: np.ndarray, perplexity: float, seed: int = 0, iterations: int = 500) -> tuple[np.ndarray, float]:
    """(coords, perplexity used): exact t-SNE (scikit-learn) with PCA initialisation, deterministic for a seed."""
    from sklearn.manifold import TSNE

    used = clamp_perplexity(perplexity, len(vectors))
    tsne = TSNE(n_components=2, perplexity=used, init="pca", learning_rate="auto", random_state=seed,
                max_iter=max(250, iterations), method="exact")
    return tsne.fit_transform(np.asarray(vectors, np.float64)), used


def snap_to_grid(coords: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Assign each point to its own cell of a near-square grid, minimizing the total squared distance between
    points and cell centres (an optimal assignment: scipy's linear_sum_assignment). -> (cells (N, 2), (cols, rows))."""
    from scipy.optimize import linear_sum_assignment

    n = len(coords)
    cols = max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    centres = np.array([((c + 0.5) / cols, (r + 0.5) / rows) for r in range(rows) for c in range(cols)])
    cost = ((np.asarray(coords)[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    points, cells = linear_sum_assignment(cost)
    out = np.zeros((n, 2), np.int64)
    out[points, 0], out[points, 1] = cells % cols, cells // cols
    return out, (cols, rows)


def layout(vectors: np.ndarray, method: str = "tsne", perplexity: float = 30.0, seed: int = 0,
           iterations: int = 500) -> tuple[np.ndarray, float | None]:
    """2-D coordinates in [0, 1]^2 of feature vectors, by t-SNE or PCA; (coords, perplexity used or None)."""
    if method == "pca":
        return _unit_square(pca_2d(vectors)), None
    if method == "tsne":
        coords, used = tsne_2d(vectors, perplexity, seed, iterations)
        return _unit_square(coords), used
    raise InvalidParameter("method", f"unknown method '{method}'")


def tsne_layout(backbone: Backbone, pixels: Sequence[np.ndarray], names: Sequence[str], method: str = "tsne",
                perplexity: float = 30.0, seed: int = 0, iterations: int = 500, layer: str | None = None,
                batch_size: int = 16, deadline: Deadline | None = None) -> Layout:
    """Images laid out by their features: coordinates and the grid-snapped cells."""
    vectors = features(backbone, pixels, layer, batch_size, deadline)
    coords, used = layout(vectors, method, perplexity, seed, iterations)
    cells, grid = snap_to_grid(coords)
    return Layout(coords=coords, cells=cells, grid=grid, names=list(names), method=method, perplexity=used,
                  layer=layer or "", backbone=backbone.name, images=list(pixels))
