"""GPU readiness without a GPU: the device choice (TorchServe's gpu_id), a static check of the sources for
device mistakes, and every engine path and handler run on a stand-in accelerator that rejects mixed devices."""
from __future__ import annotations

import copy
import importlib
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data
from tools.stylizers import export, nets

import device_lint
from convlens import attribution
from convlens.attribution import occlusion, segment
from convlens.core import backbones, classify, inputs
from convlens.core.backbones import Backbone
from convlens.inspect import activations, embedding, filters, patches
from convlens.style import transfer
from convlens.synthesis import common, metrics
from convlens.synthesis.classviz import Objective, classviz
from convlens.synthesis.deepdream import deepdream
from convlens.synthesis.fooling import fooling
from convlens.synthesis.inversion import inversion
from convlens.synthesis.texture import texture
from fake_device import DEVICE, fake_accelerator, on_device
from serving.requests import request_fields
from serving.specs import SPECS, example_request
from test_handlers import FakeContext, png_bytes

HANDLERS = Path(__file__).resolve().parents[2] / "handlers"
TOOLS = HANDLERS.parent / "tools"
PHOTO = np.array(Image.fromarray(data.chelsea()).resize((64, 48)))


# --- the device choice ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cuda, gpu_id, expected", [
    (True, None, "cuda:0"), (True, 0, "cuda:0"), (True, 3, "cuda:3"), (False, None, "cpu"), (False, 2, "cpu")])
def test_pick_device_follows_torchserve_gpu_id(monkeypatch, cuda, gpu_id, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert backbones.pick_device(gpu_id) == torch.device(expected)


@pytest.mark.parametrize("cuda, gpu_id, expected", [(True, 2, "cuda:2"), (True, 0, "cuda:0"), (True, None, "cpu"),
                                                     (False, 1, "cpu")])
def test_handler_loads_its_backbone_on_the_gpu_torchserve_assigned(monkeypatch, cuda, gpu_id, expected):
    from classify import ClassifyHandler

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    seen = {}

    def load_backbone(name, weights, device):
        seen["device"] = device
        return Backbone(name=name, model=torch.nn.Identity(), layers={}, labels=["a"],
                        preprocessing=backbones.Preprocessing(), default_layer="", device=device)

    monkeypatch.setattr(backbones, "load_backbone", load_backbone)
    context = FakeContext()
    context.system_properties["gpu_id"] = gpu_id
    handler = ClassifyHandler()
    handler.initialize(context)
    assert seen["device"] == torch.device(expected)
    assert handler.describe()["device"] == expected


# --- the static check -----------------------------------------------------------------------------------------


def test_engine_handler_and_tool_sources_pass_the_device_check():
    (left, used), (tools_left, tools_used) = device_lint.check_tree(HANDLERS), device_lint.check_tree(TOOLS)
    left, used = left + tools_left, used | tools_used
    assert not left, "device problems:\n" + "\n".join(map(str, left))
    assert used == set(device_lint.ALLOWED), f"stale allow-list entries: {set(device_lint.ALLOWED) - used}"


BAD = {
    "factory never moved": """
        def f(x):
            return x + torch.zeros(3)
    """,
    "assigned, used unmoved": """
        def f(x):
            noise = torch.randn(x.shape)
            return x + noise
    """,
    "moved once, used raw too": """
        def f(x):
            n = torch.rand(3)
            y = n.to(x.device)
            return x + y + n
    """,
    "module constant used raw": """
        TABLE = torch.tensor([1.0, 2.0])
        SCALED = TABLE * 2
        def f(x):
            return x @ SCALED
    """,
    "moved to a dtype only": """
        def f(x):
            return x + torch.zeros(3).to(torch.float64)
    """,
    "numpy without cpu": """
        def f(x):
            return x.detach().float().numpy()
    """,
    "generator with device": """
        def f(x, g):
            return torch.randn(3, generator=g, device=x.device)
    """,
    "device generator": """
        def f(x):
            return torch.Generator(device=x.device)
    """,
    "current device": """
        def f():
            return torch.cuda.mem_get_info()
    """,
    "bare cuda": """
        def f(m):
            return m.cuda()
    """,
    "inside a lambda": """
        def f(x):
            return map(lambda y: y + torch.ones(1), x)
    """,
}

GOOD = """
    import torch
    from torch import nn
    TABLE = torch.tensor([1.0, 2.0])
    def f(x, g, device):
        a = torch.zeros(3, device=x.device) + TABLE.to(x)
        b = (torch.randn(3, generator=g) * 0.1).to(device)
        c = torch.from_numpy(x).permute(2, 0, 1)[None].float()
        c = c.to(device)
        d = torch.linalg.inv(TABLE.view(1, 2).expand(2, 2)).to(device)
        w = nn.Parameter(torch.ones(3))
        free, _ = torch.cuda.mem_get_info(device)
        return a, b, c, d, w, free, x.detach().cpu().numpy(), torch.Generator(device="cpu")
"""


@pytest.mark.parametrize("name", list(BAD))
def test_device_check_catches_bad_code(name):
    findings = device_lint.check_source(textwrap.dedent(BAD[name]))
    assert len(findings) == 1, findings


def test_device_check_accepts_the_safe_idioms():
    assert device_lint.check_source(textwrap.dedent(GOOD)) == []


# --- every path on a stand-in accelerator ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def cpu_backbone() -> Backbone:
    return backbones.load_backbone(device=torch.device("cpu"))


def run_on_accelerator(cpu: Backbone, fn):
    """fn(backbone) with a copy of the backbone on the stand-in accelerator."""
    model = copy.deepcopy(cpu.model)  # real tensors cannot be deep-copied inside the fake mode
    with fake_accelerator():
        model = on_device(model)
        return fn(Backbone(name=cpu.name, model=model, layers=backbones.spec(cpu.name).named_layers(model),
                           labels=cpu.labels, preprocessing=cpu.preprocessing, default_layer=cpu.default_layer,
                           device=DEVICE))


FEW = {"samples": 2, "batch_size": 2}
ENGINE = {
    "classify": lambda b: classify.classify(b, inputs.to_tensor(PHOTO)[None]),
    **{f"saliency {m}": (lambda b, m=m: attribution.saliency(
        b, PHOTO, method=m, options={"smoothgrad": FEW, "integrated_gradients": {"steps": 2}}.get(m)))
       for m in attribution.METHODS},
    **{f"integrated gradients, {base} baseline": (lambda b, base=base: attribution.saliency(
        b, PHOTO, method="integrated_gradients", options={"baseline": base, "steps": 2}))
       for base in ("zero", "blur", "noise")},
    "inner neuron": lambda b: attribution.saliency(b, PHOTO, method="smoothgrad", options=FEW,
                                                   neuron=attribution.Neuron("block5", 3, (1, 1))),
    **{f"occlusion {fill}": (lambda b, fill=fill: occlusion.occlusion(b, PHOTO, patch=32, stride=16, fill=fill))
       for fill in occlusion.FILLS},
    "segment": lambda b: segment.segment(b, PHOTO),
    "activations": lambda b: activations.activations(b, PHOTO, "block3"),
    "filters": lambda b: filters.filter_bank(b, "block2"),
    "top patches": lambda b: patches.top_patches(b, [PHOTO, PHOTO], ["a", "b"], "block3", 1, top=2, guided=True),
    "embed": lambda b: embedding.embed(b, [PHOTO, PHOTO], ["a", "b"]),
    "embed at a layer": lambda b: embedding.embed(b, [PHOTO, PHOTO], ["a", "b"], layer="block3"),
    "neighbors": lambda b: embedding.neighbors(b, PHOTO, [PHOTO, PHOTO], ["a", "b"], top=1),
    "classviz pixel": lambda b: classviz(b, Objective(target=1), size=32, steps=2, param="pixel", clip_norm_pct=10,
                                         clip_contrib_pct=10, count=2, batch_size=1),
    "classviz fourier": lambda b: classviz(b, Objective(layer="block3", channel=1, kind="neuron"), size=32, steps=2,
                                           param="fourier", count=2),
    "deepdream": lambda b: deepdream(b, PHOTO, "block3", steps=2, octaves=2, guide=PHOTO),
    "fooling": lambda b: fooling(b, PHOTO, 3, max_steps=2),
    "inversion": lambda b: inversion(b, PHOTO, "block3", steps=2),
    "texture": lambda b: texture(b, PHOTO, ["block2", "block3"], size=(32, 32), steps=2),
    "style transfer": lambda b: transfer.style_transfer(
        b, inputs.to_tensor(PHOTO)[None], [inputs.to_tensor(PHOTO)[None]],
        transfer.TransferSettings(steps=2, size=48, optimizer="adam", init="noise", preserve_colors=True,
                                  smoothing=True)),
    "metrics of a device picture": lambda b: metrics.ssim(common.to_tensor(PHOTO, b.device)[0], PHOTO),
    "stylizer": lambda b: on_device(nets.Stylizer(nets.NetConfig(styles=2)))(torch.ones(1, 3, 30, 34, device=b.device)),
    "onnx export graph": lambda b: export.ExportWrapper(on_device(nets.Stylizer()))(
        torch.ones(1, 3, 32, 32, device=b.device), torch.ones((), device=b.device),
        *[torch.zeros(1, c, 1, 1, device=b.device) for c in nets.Stylizer().norm_channels()]),
}


@pytest.mark.parametrize("name", list(ENGINE))
def test_engine_path_runs_on_the_accelerator(cpu_backbone, name):
    run_on_accelerator(cpu_backbone, ENGINE[name])


IMAGE = png_bytes(PHOTO)
ON_ONNX = ("stylize",)  # served by ONNX Runtime, whose providers cover the device, not torch
DEVICE_ROWS = {  # what differs from each endpoint's example request: small, few steps, the paths worth covering
    "saliency": {"method": "guided_gradcam"}, "occlusion": {"patch": "32", "stride": "32"},
    "activations": {"layer": "block3", "size": "48"},
    "top_patches": {"image_2": IMAGE, "layer": "block3", "channel": "1", "size": "48", "guided": "true"},
    "embed": {"image_2": IMAGE, "size": "48"}, "neighbors": {"size": "48"},
    "tsne": {"image_3": IMAGE, "size": "48", "method": "pca"},
    "classviz": {"steps": "2", "size": "32"},
    "deepdream": {"layer": "block3", "steps": "2", "octaves": "1"},
    "fooling": {"target": "3", "max_steps": "2", "size": "48"},
    "inversion": {"layer": "block3", "steps": "2", "size": "48"},
    "texture": {"steps": "2", "size": "32"},
    "style_transfer": {"steps": "2", "size": "48", "optimizer": "adam"},
}
HANDLER_ROWS = {name: example_request(name, [IMAGE], **DEVICE_ROWS.get(name, {})) for name in sorted(SPECS)
                if name not in ON_ONNX}


def test_every_torch_endpoint_has_a_handler_row():
    """Rows come from the spec registry: a new endpoint runs here by itself; the exceptions name real endpoints."""
    assert set(HANDLER_ROWS) == set(SPECS) - set(ON_ONNX) and set(DEVICE_ROWS) | set(ON_ONNX) <= set(SPECS)


@pytest.mark.parametrize("task", list(HANDLER_ROWS))
def test_handler_runs_on_the_accelerator(cpu_backbone, task):
    """Each handler's request path (parse, decode, engine, encode) with the backbone on the accelerator; the
    ONNX `stylize` handler is covered by ONNX Runtime's providers, not torch."""
    module = __import__(task)
    cls = next(c for c in vars(module).values() if isinstance(c, type) and getattr(c, "task", None) == task)
    handler = cls()

    def run(backbone):
        handler.backbone, handler.initialized = backbone, True
        return handler.run(request_fields(HANDLER_ROWS[task]), False)

    body, content_type = run_on_accelerator(cpu_backbone, run)
    assert body and content_type


# --- the stand-in accelerator catches what CUDA would -----------------------------------------------------------


def test_accelerator_rejects_a_tensor_left_on_the_cpu(cpu_backbone, monkeypatch):
    def noise_left_on_the_cpu(shape, gen, device, scale=1.0):
        return torch.randn(tuple(shape), generator=gen) * scale

    monkeypatch.setattr(importlib.import_module("convlens.synthesis.texture"), "noise", noise_left_on_the_cpu)
    with pytest.raises(Exception, match="device"):
        run_on_accelerator(cpu_backbone, ENGINE["texture"])


def test_accelerator_rejects_numpy_of_a_device_tensor(cpu_backbone):
    with pytest.raises(TypeError, match="cpu"):
        run_on_accelerator(cpu_backbone, lambda b: common.to_tensor(PHOTO, b.device).numpy())


def test_accelerator_rejects_a_cpu_generator_for_device_tensors(cpu_backbone):
    with pytest.raises(RuntimeError, match="generator"):
        run_on_accelerator(cpu_backbone, lambda b: torch.randn(3, generator=common.generator(0), device=b.device))


def test_seeded_noise_is_drawn_on_the_cpu_whatever_the_device():
    """Seeded results do not depend on the device: the noise is drawn on the CPU, then moved."""
    expected = torch.randn((2, 3), generator=torch.Generator().manual_seed(5)) * 0.5
    assert torch.equal(common.noise((2, 3), common.generator(5), torch.device("cpu"), 0.5), expected)
    with fake_accelerator():
        moved = common.noise((2, 3), common.generator(5), DEVICE, 0.5)
    assert moved.device == DEVICE
