"""The style handlers with a fake TorchServe context: formats, describe, errors naming fields."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image
from tools.stylizers import export, lite, nets, patterns, train

from serving import convlens_pb2 as pb
from style_transfer import StyleTransferHandler
from stylize import StylizeHandler
from test_handlers import FakeContext, png_bytes

PHOTO = png_bytes((np.random.default_rng(0).random((60, 80, 3)) * 255).astype(np.uint8))
STYLE = png_bytes(patterns.make("cubist", 64))


@pytest.fixture(scope="module")
def stylize_handler(tmp_path_factory) -> StylizeHandler:
    folder = tmp_path_factory.mktemp("stylizers")
    for name, styles in (("solo", ["solo"]), ("duo", ["x", "y"])):
        torch.manual_seed(0)
        nets.save(nets.Stylizer(nets.NetConfig(width=4, blocks=1, styles=len(styles))), str(folder / f"{name}.pt"),
                  {"styles": styles, "recipe": f"{train.RECIPE} --style x"})
        export.export_checkpoint(folder / f"{name}.pt", folder)
    student = lite.LiteStylizer(lite.LiteConfig(width=4, blocks=1))  # a distilled student of `solo`: solo.lite
    torch.save({"config": student.config.to_dict(), "state": student.state_dict(), "styles": ["solo"],
                "teacher": "solo", "recipe": "test"}, folder / "student.pt")
    export.export_checkpoint(folder / "student.pt", folder)
    ctx = FakeContext()
    ctx.model_yaml_config["convlens"].update(stylizers=str(folder), tile=64, onnx_threads=1)
    handler = StylizeHandler()
    handler.initialize(ctx)
    return handler


def test_stylize_formats_and_tiles(stylize_handler):
    ctx = FakeContext()
    out = stylize_handler.handle([{"image": PHOTO, "style": "solo"},
                                  {"image": PHOTO, "blend": "x:1,y:1", "format": "proto", "max_size": "70"},
                                  {"image": PHOTO, "style": "nope"}], ctx)
    assert ctx.content_type[0] == "image/jpeg"
    assert Image.open(io.BytesIO(out[0])).size == (80, 60)
    msg = pb.Response.FromString(out[1]).stylize
    assert msg.model == "duo" and list(msg.weights) == [0.5, 0.5] and (msg.image.width, msg.image.height) == (70, 52)
    assert msg.tiles == 2  # 70 px wide with 64 px tiles
    assert ctx.status[2] == 400 and json.loads(out[2])["field"] == "style"


def test_stylize_variant_picks_the_student_and_names_the_field(stylize_handler):
    ctx = FakeContext()
    out = stylize_handler.handle([{"image": PHOTO, "style": "solo", "variant": "lite", "format": "proto"},
                                  {"image": PHOTO, "style": "solo", "format": "proto"},
                                  {"image": PHOTO, "style": "solo", "variant": "tiny"},
                                  {"image": PHOTO, "blend": "x:1", "variant": "lite"},
                                  {"image": PHOTO, "style": "solo", "variant": "full", "format": "proto"},
                                  {"image": PHOTO, "blend": "x:1", "format": "proto"}], ctx)
    assert pb.Response.FromString(out[0]).stylize.model == "solo.lite"
    assert pb.Response.FromString(out[1]).stylize.model == "solo.lite"  # the default variant: the student
    assert ctx.status[2] == 400 and json.loads(out[2])["field"] == "variant"
    assert ctx.status[3] == 400 and json.loads(out[3])["field"] == "blend"  # no multi-style student here
    assert pb.Response.FromString(out[4]).stylize.model == "solo"  # the teacher, asked for
    assert pb.Response.FromString(out[5]).stylize.model == "duo"  # no student: the default falls back to full


def test_stylize_describe_lists_styles_with_recipes(stylize_handler):
    described = json.loads(stylize_handler.handle([{}], FakeContext({"describe": "True"}))[0])
    names = {s["name"]: s for s in described["styles"]}
    assert names["duo"]["kind"] == "multi" and names["duo"]["styles"] == ["x", "y"]
    assert names["solo"]["recipe"].startswith(train.RECIPE)
    assert described["blend_styles"] == ["x", "y"] and "CPUExecutionProvider" in described["providers"]
    assert described["variants"] == ["full", "lite"] and names["solo.lite"]["teacher"] == "solo"
    assert described["default_variant"] == "lite" and described["single_styles"] == ["solo"]


@pytest.fixture(scope="module")
def transfer_handler() -> StyleTransferHandler:
    ctx = FakeContext()
    ctx.model_yaml_config["convlens"].update(max_steps=5, max_size=64)
    handler = StyleTransferHandler()
    handler.initialize(ctx)
    return handler


def test_style_transfer_handler(transfer_handler):
    ctx = FakeContext()
    out = transfer_handler.handle([
        {"content": PHOTO, "style": STYLE, "style_2": STYLE, "style_weights": "1,1", "steps": "2", "size": "48",
         "optimizer": "adam", "format": "proto"},
        {"content": PHOTO, "style": STYLE, "steps": "6"},
        {"content": PHOTO, "style": STYLE, **{f"style_{i}": STYLE for i in range(2, 6)}},
    ], ctx)
    msg = pb.Response.FromString(out[0]).style_transfer
    assert (msg.image.width, msg.image.height) == (48, 36) and msg.steps == 2
    assert list(msg.style_weights) == [0.5, 0.5] and set(msg.final_losses) == {"total", "content", "style", "tv"}
    assert ctx.status[1] == 400 and json.loads(out[1])["field"] == "steps"
    assert ctx.status[2] == 400 and json.loads(out[2])["field"] == "style_5"
