"""Before/after ratios of the serving path's choices, measured in-process in one run (benchmarks/run.py's
`tuning` section). Each entry times the alternative we did not choose ("before") against what the handlers do
("after"), interleaved, and says what the choice is."""
from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image
from skimage import data

import common
from convlens.core import backbones, classify, images, inputs
from convlens.stylize import runtime


def compare(name: str, what: str, before: Callable[[], object], after: Callable[[], object], runs: int
            ) -> dict[str, Any]:
    samples = common.timed({"before": before, "after": after}, runs)
    entry = {"what": what, "before_ms": common.percentile(samples["before"], 50),
             "after_ms": common.percentile(samples["after"], 50), "ratio": common.ratio(samples["before"],
                                                                                      samples["after"])}
    print(f"  {name:34} before {entry['before_ms']:8.2f} ms   after {entry['after_ms']:8.2f} ms   "
          f"{entry['ratio']:5.2f}x   {what}", flush=True)
    return entry


def with_threads(n: int, fn: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        previous = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            return fn()
        finally:
            torch.set_num_threads(previous)
    return run


def photo_jpeg(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(data.chelsea()).resize((width, height), Image.BICUBIC).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def measure(quick: bool = False) -> dict[str, dict[str, Any]]:
    runs = 5 if quick else 10
    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    backbone = backbones.load_backbone()
    prep = backbone.preprocessing
    out: dict[str, dict[str, Any]] = {}

    phone = photo_jpeg(4000, 3000)
    out["decode 12 MP JPEG for classify"] = compare(
        "decode 12 MP JPEG for classify", "JPEG draft mode: decode at 1/8 scale in the DCT domain, then resize",
        lambda: inputs.classification_pixels(Image.open(io.BytesIO(phone)).convert("RGB"), prep),
        lambda: inputs.classification_pixels(images.decode_image(phone, min_side=prep.resize), prep), runs)

    pixels = np.array(Image.fromarray(data.astronaut()))  # 512 x 512, writable like a decoded upload
    out["uint8 -> float tensor, 512 px"] = compare(
        "uint8 -> float tensor, 512 px", "one copy (from_numpy, permuted view, in-place scale) vs three",
        lambda: torch.tensor(pixels).permute(2, 0, 1).float() / 255.0,
        lambda: inputs.to_tensor(pixels), runs * 5)

    batch = torch.rand(8, 3, prep.crop, prep.crop)
    with torch.inference_mode():
        out["classify 8 images: batched"] = compare(
            "classify 8 images: batched", "one forward of 8 (dynamic batching) vs 8 forwards of 1",
            lambda: [classify.classify(backbone, batch[i:i + 1], 5) for i in range(8)],
            lambda: classify.classify(backbone, batch, 5), max(3, runs // 2))
        one = batch[:1]
        if cores > 1:
            out[f"classify torch threads {cores} vs 1"] = compare(
                f"classify torch threads {cores} vs 1", f"one request's latency with {cores} intra-op threads",
                with_threads(1, lambda: classify.classify(backbone, one, 5)),
                with_threads(cores, lambda: classify.classify(backbone, one, 5)), runs)

    library = runtime.StyleLibrary(common.ROOT / "model_store" / "stylizers")
    model = library.resolve("stained_glass", None)[0]
    styled = runtime.stylize(model, pixels)
    if cores > 1:
        single = runtime.StyleLibrary(common.ROOT / "model_store" / "stylizers", threads=1)
        out[f"stylize ORT threads {cores} vs 1"] = compare(
            f"stylize ORT threads {cores} vs 1", "ONNX Runtime intra-op threads for one 512 px request",
            lambda: runtime.stylize(single.resolve("stained_glass", None)[0], pixels),
            lambda: runtime.stylize(model, pixels), max(3, runs // 2))
    png_default = compare(
        "PNG level 1 vs Pillow's 6, 512 px", "compress_level=1 for pictures the handlers return",
        lambda: images.encode_png(styled, compress_level=6), lambda: images.encode_png(styled), runs)
    png_default["bytes_before"] = len(images.encode_png(styled, compress_level=6))
    png_default["bytes_after"] = len(images.encode_png(styled))
    out["PNG level 1 vs 6, 512 px"] = png_default
    jpeg = compare("JPEG q90 vs PNG level 1, 512 px", "stylize answers JPEG by default (format=jpeg)",
                   lambda: images.encode_png(styled), lambda: images.encode_jpeg(styled, quality=90), runs)
    jpeg["bytes_before"], jpeg["bytes_after"] = len(images.encode_png(styled)), len(images.encode_jpeg(styled))
    out["JPEG q90 vs PNG level 1, 512 px"] = jpeg
    return out
