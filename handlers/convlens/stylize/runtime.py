"""Serve exported stylizers with ONNX Runtime: tuned sessions, blends, strength, colour keeping, seamless tiles.

Large images run in tiles whose origins sit on the network's stride grid, each with a margin wider than the
receptive field, and every tile uses the instance-norm statistics of one thumbnail of the whole image (thumbnail
instance norm, Chen et al. 2022): tiles then agree with each other, so stitching shows no seams, and memory is
bounded by the tile size plus the output itself.

An image that fits one tile runs the network's fast graph (`fast_file` in the manifest: fused instance norms, no
statistics in or out) when the export wrote one; thumbnails and tiles run the statistics graph.
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convlens.core.errors import InvalidParameter
from convlens.core.progress import Deadline

WEIGHTED = ("multi", "arbitrary")  # manifest kinds whose graphs take a `weights` input (a blend, a style vector)
TILE = 512          # core side of one tile (a multiple of 4)
MAX_BATCH = 8       # images per ONNX Runtime call under dynamic batching (TensorRT engines are built for it)
MARGIN = 48         # context around each tile core; > the nets' receptive radius, a multiple of 4
THUMBNAIL = 512     # longer side of the image whose statistics all tiles share
_YIQ = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], np.float32)
_YIQ_INV = np.linalg.inv(_YIQ).astype(np.float32)


def _cuda_usable() -> bool:
    """A CUDA driver that sees at least one device, asked from libcuda itself (what torch.cuda.is_available asks):
    the stylize worker never imports torch, which alone would add hundreds of MB and seconds to its start."""
    import ctypes

    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:  # no NVIDIA driver (or not Linux)
        return False
    count = ctypes.c_int(0)
    return cuda.cuInit(0) == 0 and cuda.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0


def _tensorrt_present() -> bool:
    """TensorRT's runtime library can be found (ORT lists its TensorRT provider whether or not it is installed)."""
    import ctypes.util
    import importlib.util

    return (ctypes.util.find_library("nvinfer") is not None or importlib.util.find_spec("tensorrt_libs") is not None
            or importlib.util.find_spec("tensorrt") is not None)


def providers() -> list[str]:
    """Usable execution providers, fastest first: TensorRT (fp16), CUDA, CPU (always last, the fallback)."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    usable = []
    if _cuda_usable():
        if "TensorrtExecutionProvider" in available and _tensorrt_present():
            usable.append("TensorrtExecutionProvider")
        if "CUDAExecutionProvider" in available:
            usable.append("CUDAExecutionProvider")
    return usable + ["CPUExecutionProvider"]


def provider_options(names: list[str], manifest: dict, fast: bool, device_id: int = 0) -> list[tuple[str, dict]]:
    """ONNX Runtime's (provider, options) list for one graph on GPU `device_id` (TorchServe's gpu_id): TensorRT
    builds fp16 engines for image sides up to a default tile plus its margins (larger ones rebuild) and, for the
    fast graph that dynamic batching feeds, batches up to MAX_BATCH; cached on disk. CUDA and CPU run float32."""
    out = []
    for name in names:
        options: dict = {}
        if name == "CUDAExecutionProvider":
            options = {"device_id": device_id}
        if name == "TensorrtExecutionProvider":
            side, batch = TILE + 2 * MARGIN, MAX_BATCH if fast else 1
            shapes = {"image": ("1x3x32x32", "1x3x512x512", f"{batch}x3x{side}x{side}")}
            if manifest.get("kind") in WEIGHTED:
                n = int(manifest["network"]["styles"])
                shapes["weights"] = (f"1x{n}", f"1x{n}", f"{batch}x{n}")
            if not fast:
                shapes.update({f"stats_{i}": (f"1x{c}x1x1",) * 3 for i, c in enumerate(manifest["stats_channels"])})
            options = {"device_id": device_id, "trt_fp16_enable": True, "trt_engine_cache_enable": True,
                       "trt_engine_cache_path": os.path.join(tempfile.gettempdir(), "convlens-trt-cache"),
                       **{f"trt_profile_{kind}_shapes": ",".join(f"{k}:{v[i]}" for k, v in shapes.items())
                          for i, kind in enumerate(("min", "opt", "max"))}}
        out.append((name, options))
    return out


def session_options(threads: int | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # idle intra-op threads sleep instead of spinning: on shared cores a spinning pool slows the frontend and the
    # other workers (measured: the call after a stylize in another process ran up to 17 ms slower)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


@dataclass
class StylizerModel:
    """One exported network with its manifest; the ONNX Runtime session is created on first use."""

    manifest: dict
    path: Path
    threads: int | None = None
    device_id: int = 0  # the GPU for CUDA/TensorRT (TorchServe's gpu_id)
    _sessions: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def styles(self) -> list[str]:
        return list(self.manifest["styles"])

    @property
    def multi(self) -> bool:
        return self.manifest["kind"] == "multi"

    @property
    def weighted(self) -> bool:
        """Whether its graphs take a `weights` input: a multi-style blend or an arbitrary style's vector."""
        return self.manifest["kind"] in WEIGHTED

    @property
    def fast_path(self) -> Path | None:
        """The fast single-tile graph (fused norms, no statistics), if the export wrote one."""
        name = self.manifest.get("fast_file")
        return self.path.parent / name if name else None

    def session(self, fast: bool = False) -> Any:
        """The statistics graph's session, or the fast graph's (`fast`); created on first use."""
        with self._lock:
            key = "fast" if fast else "stats"
            if key not in self._sessions:
                path = self.fast_path if fast else self.path
                if path is None:
                    raise ValueError(f"{self.path.name} has no fast graph")
                self._sessions[key] = self.open_graph(path, fast)
            return self._sessions[key]

    def open_graph(self, path: Path, fast: bool = False) -> Any:
        """A session for one of this network's graphs on the best usable providers; CPU alone when a GPU provider
        fails to start."""
        import onnxruntime as ort

        names = providers()
        try:
            return ort.InferenceSession(str(path), sess_options=session_options(self.threads),
                                        providers=provider_options(names, self.manifest, fast, self.device_id))
        except Exception:  # noqa: BLE001 - e.g. a TensorRT/CUDA library missing at session start
            if names == ["CPUExecutionProvider"]:
                raise
            return ort.InferenceSession(str(path), sess_options=session_options(self.threads),
                                        providers=["CPUExecutionProvider"])

    def run(self, image: np.ndarray, weights: np.ndarray | None, stats: list[np.ndarray] | None
            ) -> tuple[np.ndarray, list[np.ndarray]]:
        """(1, 3, H, W) float32 with H, W multiples of 4 -> (stylized, statistics used)."""
        feeds: dict[str, np.ndarray] = {"image": image}
        if self.weighted:
            feeds["weights"] = np.asarray(weights, np.float32).reshape(1, -1)
        channels = self.manifest["stats_channels"]
        feeds["alpha"] = np.array(1.0 if stats is not None else 0.0, np.float32)
        for i, c in enumerate(channels):
            feeds[f"stats_{i}"] = stats[i] if stats is not None else np.zeros((1, c, 1, 1), np.float32)
        out = self.session().run(None, feeds)
        return out[0], out[1:]

    def run_own(self, image: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        """(N, 3, H, W) float32 with H, W multiples of 4 -> stylized with each image's own statistics (fast graph
        when there is one)."""
        if self.fast_path is None:
            return self.run(image, weights, None)[0]
        feeds: dict[str, np.ndarray] = {"image": image}
        if self.weighted:  # one blend (or style vector) for every image of the batch
            blend = np.asarray(weights, np.float32).reshape(1, -1)
            feeds["weights"] = np.ascontiguousarray(np.broadcast_to(blend, (len(image), blend.shape[1])))
        return self.session(fast=True).run(None, feeds)[0]


FULL = "full"  # the trained networks (a manifest without "variant")
VARIANTS = (FULL, "lite")  # the shipped networks, and their distilled real-time students (manifest "variant")
DEFAULT_VARIANT = "lite"  # what `stylize` runs unless asked, where the style has one (issue 20: its quality holds)


class StyleLibrary:
    """Every stylizer of a folder of manifests (<name>.json next to <name>.onnx), in its variants: `full` (the
    trained networks) and `lite` (each one distilled into a cheaper student; the manifest names its `teacher`)."""

    def __init__(self, folder: str | Path, threads: int | None = None, device_id: int = 0) -> None:
        self.folder = Path(folder)
        self.models: dict[str, StylizerModel] = {}
        for manifest_path in sorted(self.folder.glob("*.json")):
            manifest = json.loads(manifest_path.read_text())
            self.models[manifest["name"]] = StylizerModel(manifest, self.folder / manifest["file"], threads,
                                                          device_id)

    def variant(self, variant: str) -> dict[str, StylizerModel]:
        """The networks of one variant, by name."""
        return {n: m for n, m in self.models.items() if m.manifest.get("variant", FULL) == variant}

    def variants(self) -> list[str]:
        """The variants with at least one network installed, in VARIANTS order."""
        return [v for v in VARIANTS if self.variant(v)]

    def singles(self, variant: str) -> dict[str, StylizerModel]:
        """Single-style networks of a variant by style name (a student under its teacher's name)."""
        return {m.manifest.get("teacher", n): m for n, m in self.variant(variant).items()
                if m.manifest["kind"] == "single"}

    def multi(self, variant: str) -> StylizerModel | None:
        return next((m for m in self.variant(variant).values() if m.multi), None)

    def arbitrary(self) -> StylizerModel | None:
        """The arbitrary-style network (any style image, `arbitrary.py`), if one is installed."""
        return next((m for m in self.models.values() if m.manifest["kind"] == "arbitrary"), None)

    def describe(self) -> list[dict]:
        """The styles offered, each with its kind, style names, variant and the command that trained it."""
        return [{k: m.manifest.get(k) for k in ("name", "kind", "styles", "recipe", "steps", "network",
                                                "onnx_max_abs_diff", "teacher", "quality")}
                | {"variant": m.manifest.get("variant", FULL)} for m in self.models.values()]

    def resolve(self, style: str | None, blend: dict[str, float] | None, variant: str | None = None
                ) -> tuple[StylizerModel, np.ndarray | None]:
        """A single-style model by name, or the multi-style net with normalized blend weights, of `variant`;
        400 otherwise. No variant: DEFAULT_VARIANT where it paints the request, else the full networks (a
        network added without a student still answers)."""
        if variant is None:
            try:
                return self.resolve(style, blend, DEFAULT_VARIANT)
            except InvalidParameter:
                return self.resolve(style, blend, FULL)
        if not self.variant(variant):
            raise InvalidParameter("variant", f"no '{variant}' networks are installed; installed: "
                                              f"{', '.join(self.variants())}")
        if blend:
            net = self.multi(variant)
            if net is None:
                raise InvalidParameter("blend", f"no multi-style network is installed ({variant})")
            unknown = sorted(set(blend) - set(net.styles))
            if unknown:
                raise InvalidParameter("blend", f"unknown style '{unknown[0]}' for network {net.name}; "
                                                f"its styles: {', '.join(net.styles)}")
            weights = np.array([blend.get(s, 0.0) for s in net.styles], np.float32)
            return net, weights / weights.sum()
        singles = self.singles(variant)
        if style in singles:
            return singles[style], None
        net = self.multi(variant)
        if net is not None and style in net.styles:  # a style of the multi net, alone
            weights = np.zeros(len(net.styles), np.float32)
            weights[net.styles.index(style)] = 1.0
            return net, weights
        known = sorted(set(singles) | set(net.styles if net else []))
        raise InvalidParameter("style", f"unknown style '{style}' ({variant}); available: {', '.join(known)}")


def _pad4(x: np.ndarray) -> np.ndarray:
    """Reflect-pad (1, 3, H, W) at the bottom/right to multiples of 4 (as the PyTorch net does)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % 4, (-w) % 4
    return np.pad(x, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="reflect") if ph or pw else x


def _thumbnail(image: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    h, w = image.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return image
    return np.asarray(Image.fromarray(image).resize((max(4, round(w * scale)), max(4, round(h * scale))),
                                                    Image.Resampling.BILINEAR))


def _chw(image: np.ndarray) -> np.ndarray:
    return (image.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]


MIN_SIDE = 32  # the net's reflection paddings and two stride-2 stages need a few pixels per side


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HxWxC array (uint8 or float32) resized bilinearly to (width, height), same dtype."""
    from PIL import Image

    if image.dtype == np.uint8:
        return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
    return np.stack([np.asarray(Image.fromarray(image[..., c], mode="F").resize(size, Image.Resampling.BILINEAR))
                     for c in range(image.shape[2])], axis=-1)


def stylize_array(model: StylizerModel, image: np.ndarray, weights: np.ndarray | None = None, tile: int = TILE,
                  margin: int = MARGIN, thumbnail: int = THUMBNAIL, deadline: Deadline | None = None
                  ) -> np.ndarray:
    """HxWx3 uint8 -> HxWx3 float32 in [0, 1]; tiles of `tile` + `margin` when the image is larger than a tile.
    A tiny image (a side below MIN_SIDE) runs enlarged and comes back at its own size."""
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        scale = MIN_SIDE / min(h, w)
        big = _resize(image, (max(MIN_SIDE, round(w * scale)), max(MIN_SIDE, round(h * scale))))
        return _resize(stylize_array(model, big, weights, tile, margin, thumbnail, deadline), (w, h))
    if h <= tile and w <= tile:
        return model.run_own(_pad4(_chw(image)), weights)[0, :, :h, :w].transpose(1, 2, 0)
    stats = model.run(_pad4(_chw(_thumbnail(image, thumbnail))), weights, None)[1]
    return stylize_tiles(model, image, weights, stats, tile, margin, deadline)


def stylize_tiles(model: StylizerModel, image: np.ndarray, weights: np.ndarray | None, stats: list[np.ndarray],
                  tile: int = TILE, margin: int = MARGIN, deadline: Deadline | None = None) -> np.ndarray:
    """Stitch tiles that share `stats`: each tile runs on its core plus `margin`, and only its core is kept."""
    assert tile % 4 == 0 and margin % 4 == 0, "tile and margin must be multiples of 4 (the stride grid)"
    h, w = image.shape[:2]
    out = np.empty((h, w, 3), np.float32)
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            if deadline is not None:
                deadline.check()
            y0, x0 = max(0, top - margin), max(0, left - margin)
            y1, x1 = min(h, top + tile + margin), min(w, left + tile + margin)
            result = model.run(_pad4(_chw(image[y0:y1, x0:x1])), weights, stats)[0][0]
            core = result[:, top - y0:min(h, top + tile) - y0, left - x0:min(w, left + tile) - x0]
            out[top:top + core.shape[1], left:left + core.shape[2]] = core.transpose(1, 2, 0)
    return out


def keep_colors(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Luminance of the stylized image with the chroma of the content (YIQ), both HxWx3 float in [0, 1]."""
    yiq = stylized @ _YIQ.T
    yiq[..., 1:] = (content @ _YIQ.T)[..., 1:]
    return np.clip(yiq @ _YIQ_INV.T, 0, 1)


def stylize(model: StylizerModel, image: np.ndarray, weights: np.ndarray | None = None, strength: float = 1.0,
            preserve_colors: bool = False, tile: int = TILE, deadline: Deadline | None = None) -> np.ndarray:
    """The full `stylize` recipe on an HxWx3 uint8 image: network, colour keeping, strength; HxWx3 uint8 out."""
    return finish(stylize_array(model, image, weights, tile=tile, deadline=deadline), image, strength,
                  preserve_colors)


def fits_one_pass(shape: tuple[int, ...], tile: int = TILE) -> bool:
    """Whether an image of this shape runs as one network pass (no tiles, no enlarging): it can share a batch."""
    return MIN_SIDE <= min(shape[:2]) and max(shape[:2]) <= tile


def stylize_batch(model: StylizerModel, images: list[np.ndarray], weights: np.ndarray | None = None,
                  strength: float = 1.0, preserve_colors: bool = False) -> list[np.ndarray]:
    """`stylize` for images of one shape that fit one pass, as ONE ONNX Runtime call (dynamic batching)."""
    h, w = images[0].shape[:2]
    assert all(im.shape == images[0].shape for im in images) and fits_one_pass(images[0].shape, max(h, w))
    out = model.run_own(np.concatenate([_pad4(_chw(im)) for im in images]), weights)
    return [finish(o[:, :h, :w].transpose(1, 2, 0), im, strength, preserve_colors) for o, im in zip(out, images)]


def finish(out: np.ndarray, image: np.ndarray, strength: float, preserve_colors: bool) -> np.ndarray:
    """Colour keeping and strength on the network's HxWx3 float output, then uint8."""
    if preserve_colors or strength < 1.0:
        content = image.astype(np.float32) / 255.0
        if preserve_colors:
            out = keep_colors(out, content)
        if strength < 1.0:
            out = strength * out + (1.0 - strength) * content
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
