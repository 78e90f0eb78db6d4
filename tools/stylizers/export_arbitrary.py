"""Export an arbitrary-style checkpoint (`arbitrary.py`) to the shipped ONNX files, checked against PyTorch.

`python -m tools.stylizers.export_arbitrary --checkpoint build/stylizers/arbitrary.pt [--out model_store/stylizers]`
writes, under the name `arbitrary`:

- `arbitrary.onnx` and `arbitrary.fast.onnx`: the transformer, exported by `export.py` as a 101-"style" conditional
  instance norm net (its `weights` input takes the style vector [e, 1]), statistics graph for tiles plus fast graph;
- `arbitrary.style.onnx`: the style prediction network, `image` (N, 3, H, W) in [0, 1] -> `vector` (N, embed + 1),
  H and W dynamic multiples of 16 (the frozen backbone's "same" paddings are traced for even sides at every stride);
- `arbitrary.json`: the manifest, kind "arbitrary", with the encoder's file, input side and measured differences.

So a style is encoded once by the small graph and any number of photos reuse its vector (the serving cache).
"""
from __future__ import annotations

import argparse
import copy
import io
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import arbitrary, export

NAME = "arbitrary"
STRIDE = 16  # the backbone's total stride up to block8: sides that are multiples of it keep every padding traced


class StaticSamePadConv(nn.Module):
    """A "same"-padded conv with its padding fixed for inputs whose sides are multiples of its stride (traceable:
    the library's dynamic padding computes the pads with `math.ceil` on the traced size, a constant in ONNX)."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        pads = [max(k - s, 0) for k, s in zip(conv.kernel_size, conv.stride)]  # (ceil(i/s)-1)*s + k - i, s | i
        self.pads = [pads[1] // 2, pads[1] - pads[1] // 2, pads[0] // 2, pads[0] - pads[0] // 2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        return F.conv2d(F.pad(x, self.pads), c.weight, c.bias, c.stride, c.padding, c.dilation, c.groups)


def static_padding(module: nn.Module) -> nn.Module:
    """A copy of `module` whose dynamically "same"-padded convs have static pads (see StaticSamePadConv)."""
    module = copy.deepcopy(module)
    for name, child in list(module.named_modules()):
        if type(child).__name__ == "Conv2dDynamicSamePadding":
            parent, _, attr = name.rpartition(".")
            setattr(module.get_submodule(parent) if parent else module, attr, StaticSamePadConv(child))
    return module


class EncoderGraph(nn.Module):
    """The style prediction network as one traceable module: pixels -> frozen layers -> statistics -> [e, 1]."""

    def __init__(self, model: arbitrary.ArbitraryStylizer) -> None:
        super().__init__()
        config = model.encoder.config
        self.features = arbitrary.StyleFeatures(config)
        backbone = self.features.extractor.backbone
        self.normalize = backbone.normalize
        self.stem = static_padding(backbone.model.stem)
        last = max(int(n.removeprefix("block")) for n in config.layers if n.startswith("block"))
        self.blocks = static_padding(nn.ModuleList(list(backbone.model.blocks)[:last]))
        self.layers = config.layers
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        feats = {arbitrary.PIXELS: image}
        x = feats["stem"] = self.stem(self.normalize(image))
        for i, block in enumerate(self.blocks):
            x = feats[f"block{i + 1}"] = block(x)
        return self.model.style_vector(arbitrary.feature_statistics(feats, self.layers))


def export_encoder(model: arbitrary.ArbitraryStylizer) -> bytes:
    """The ONNX graph of the style prediction network (dynamic N, H, W)."""
    graph = EncoderGraph(model).eval()
    side = model.encoder.config.style_size
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, (torch.rand(1, 3, side, side),), buffer, input_names=["image"],
                          output_names=["vector"], dynamic_axes={"image": {0: "n", 2: "h", 3: "w"},
                                                                 "vector": {0: "n"}},
                          opset_version=export.OPSET, dynamo=False)
    return buffer.getvalue()


def encoder_max_abs_diff(model: arbitrary.ArbitraryStylizer, onnx_bytes: bytes) -> float:
    """Largest |ONNX - PyTorch| of the style vector over images of several (multiple-of-16) sizes."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    features = arbitrary.StyleFeatures(model.encoder.config)
    worst = 0.0
    for seed, (h, w) in enumerate(((128, 128), (128, 192), (176, 128), (64, 96))):
        image = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))
        got = session.run(["vector"], {"image": image.numpy()})[0]
        with torch.no_grad():
            want = model.style_vector(features.statistics(image)).numpy()
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def export_arbitrary(checkpoint: Path, out_dir: Path, name: str = NAME) -> dict:
    """Write the transformer graphs, the style encoder graph and the manifest; raise if ONNX and PyTorch differ."""
    model, ckpt = arbitrary.load(checkpoint)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.pt"
        arbitrary.transformer_checkpoint(model, path, ckpt)
        manifest = export.export_checkpoint(path, out_dir)
    encoder_bytes = export_encoder(model)
    diff = encoder_max_abs_diff(model, encoder_bytes)
    if diff > export.TOLERANCE:
        raise SystemExit(f"{name}: the style encoder's ONNX differs from PyTorch by {diff:.2e} > {export.TOLERANCE}")
    encoder_file = f"{name}.style.onnx"
    (out_dir / encoder_file).write_bytes(encoder_bytes)
    config = model.encoder.config
    manifest = {**manifest, "kind": "arbitrary", "styles": [], "embedding": config.embed,
                "steps": int(ckpt.get("steps", 0)), "recipe": str(ckpt.get("recipe", "")),
                "encoder_file": encoder_file, "encoder_style_size": config.style_size, "encoder_stride": STRIDE,
                "encoder_max_abs_diff": diff, "encoder": config.to_dict(),
                "exported_by": f"python -m tools.stylizers.export_arbitrary --checkpoint {checkpoint.name}"}
    (out_dir / f"{name}.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m tools.stylizers.export_arbitrary", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True, help="an arbitrary-style checkpoint (arbitrary.save)")
    p.add_argument("--out", type=Path, default=Path("model_store/stylizers"))
    p.add_argument("--name", default=NAME)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    m = export_arbitrary(args.checkpoint, args.out, args.name)
    sizes = {f: round((args.out / m[f]).stat().st_size / 1e6, 2) for f in ("file", "fast_file", "encoder_file")}
    print(f"{m['name']}: step {m['steps']}, MB {sizes}, max |onnx - torch| transformer {m['onnx_max_abs_diff']:.1e}, "
          f"fast {m['fast_max_abs_diff']:.1e}, style encoder {m['encoder_max_abs_diff']:.1e}")


if __name__ == "__main__":
    main()
