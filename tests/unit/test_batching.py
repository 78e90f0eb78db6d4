"""Dynamic batching in the handlers: a TorchServe batch runs as one engine call per group of compatible requests,
and every request gets exactly the answer it gets alone (errors included)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

import classify as classify_module
from classify import ClassifyHandler
from convlens import attribution
from saliency import SaliencyHandler
from serving import base
from test_handlers import FakeContext


def jpeg(array: np.ndarray, size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).resize(size).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


ROOT = Path(__file__).resolve().parents[2]
CAT, ROCKET, COFFEE = (jpeg(a, (112, 96)) for a in (data.chelsea(), data.rocket(), data.coffee()))


@pytest.fixture(scope="module")
def classify_handler() -> ClassifyHandler:
    handler = ClassifyHandler()
    handler.initialize(FakeContext())
    return handler


@pytest.fixture(scope="module")
def saliency_handler() -> SaliencyHandler:
    handler = SaliencyHandler()
    handler.initialize(FakeContext())
    return handler


def alone(handler, rows: list[dict]) -> list[tuple[bytes, int | None, str]]:
    """Each request handled in a batch of its own: (body, status, content type)."""
    answers = []
    for row in rows:
        ctx = FakeContext()
        body = handler.handle([row], ctx)[0]
        answers.append((body, ctx.status.get(0), ctx.content_type[0]))
    return answers


def batched(handler, rows: list[dict]) -> list[tuple[bytes, int | None, str]]:
    ctx = FakeContext()
    bodies = handler.handle(rows, ctx)
    return [(body, ctx.status.get(i), ctx.content_type[i]) for i, body in enumerate(bodies)]


def assert_same_predictions(a: bytes, b: bytes) -> None:
    one, two = json.loads(a), json.loads(b)
    assert [p["index"] for p in one["predictions"]] == [p["index"] for p in two["predictions"]]
    np.testing.assert_allclose([p["probability"] for p in one["predictions"]],
                               [p["probability"] for p in two["predictions"]], atol=1e-5)


def test_classify_batch_is_one_forward_with_each_answer_as_alone(classify_handler, monkeypatch):
    rows = [{"image": CAT, "topk": b"2"}, {"image": b"not an image"}, {"image": ROCKET},
            {"image": COFFEE, "topk": b"3"}, {"image": CAT, "format": b"proto"}]
    calls = []
    engine = classify_module.classify.classify
    monkeypatch.setattr(classify_module.classify, "classify",
                        lambda bb, x, k: calls.append(len(x)) or engine(bb, x, k))
    together = batched(classify_handler, rows)
    assert calls == [4]  # the four good requests in one pass; the bad one never reached the engine
    calls.clear()
    single = alone(classify_handler, rows)
    assert calls == [1, 1, 1, 1]
    for (b1, s1, t1), (b2, s2, t2) in zip(together, single):
        assert (s1, t1) == (s2, t2)
        if t1 == "application/json" and s1 is None:
            assert_same_predictions(b1, b2)
    assert together[1][1] == 400 and json.loads(together[1][0])["field"] == "image"
    assert [len(json.loads(together[i][0])["predictions"]) for i in (0, 2, 3)] == [2, 5, 3]
    assert together[4][2] == "application/x-protobuf"


def test_explain_requests_in_a_batch_run_alone(classify_handler):
    ctx = FakeContext(headers={"explain": ["False", "True", "False"]})
    bodies = classify_handler.handle([{"image": CAT}, {"image": CAT, "format": b"json"}, {"image": ROCKET}], ctx)
    assert "predictions" in json.loads(bodies[0]) and "predictions" in json.loads(bodies[2])
    saliency = json.loads(bodies[1])
    assert saliency["method"] == "gradient" and len(saliency["values"]) == saliency["height"]


@pytest.mark.parametrize("method,options", [("gradient", {}), ("guided_backprop", {}), ("gradcam", {}),
                                            ("integrated_gradients", {"steps": b"4"})])
def test_batched_saliency_equals_unbatched(saliency_handler, method, options):
    rows = [{"image": img, "method": method.encode(), "size": b"64", "format": b"json", **options}
            for img in (CAT, ROCKET, COFFEE)]
    for (b1, s1, _), (b2, s2, _) in zip(batched(saliency_handler, rows), alone(saliency_handler, rows)):
        assert s1 is s2 is None
        one, two = json.loads(b1), json.loads(b2)
        assert one["target"]["index"] == two["target"]["index"]
        np.testing.assert_allclose(one["values"], two["values"], rtol=1e-4, atol=1e-6 * max(1.0, abs(two["max"])))


def test_saliency_groups_by_method_and_size(saliency_handler, monkeypatch):
    passes = []
    engine = attribution.saliency
    monkeypatch.setattr(attribution, "saliency",
                        lambda bb, px, t, **kw: passes.append((kw["method"], len(px))) or engine(bb, px, t, **kw))
    rows = [{"image": CAT, "size": b"64"}, {"image": ROCKET, "size": b"64", "format": b"json"},
            {"image": COFFEE, "size": b"80"}, {"image": CAT, "size": b"64", "method": b"gradcam"},
            {"image": CAT, "size": b"64", "method": b"smoothgrad", "samples": b"2"},
            {"image": ROCKET, "size": b"64", "method": b"smoothgrad", "samples": b"2"}]
    answers = batched(saliency_handler, rows)
    assert all(status is None for _, status, _ in answers)
    # same method + size share a pass; another size or method gets its own; seeded noise never shares one
    assert sorted(passes) == sorted([("gradient", 2), ("gradient", 1), ("gradcam", 1),
                                     ("smoothgrad", 1), ("smoothgrad", 1)])


def test_smoothgrad_noise_depends_on_the_batch_so_it_is_never_grouped(saliency_handler):
    """Why seeded-noise methods run alone: in a shared pass the second image would get other noise."""
    backbone = saliency_handler.backbone
    pixels = [np.asarray(Image.open(io.BytesIO(img)).convert("RGB").resize((64, 64))) for img in (CAT, ROCKET)]
    options = {"samples": 3}
    pair = attribution.saliency(backbone, pixels, method="smoothgrad", options=options)
    single = attribution.saliency(backbone, pixels[1:], method="smoothgrad", options=options)
    assert not np.allclose(pair[1].values, single[0].values, rtol=1e-3)
    assert not attribution.batch_independent("smoothgrad", {})
    assert not attribution.batch_independent("integrated_gradients", {"baseline": "noise"})
    assert attribution.batch_independent("integrated_gradients", {"baseline": "blur"})


def test_a_failed_batched_pass_is_retried_one_by_one(classify_handler, monkeypatch):
    engine = classify_module.classify.classify

    def fails_on_batches(bb, x, k):
        if len(x) > 1:
            raise RuntimeError("simulated failure of a batched pass")
        return engine(bb, x, k)

    monkeypatch.setattr(classify_module.classify, "classify", fails_on_batches)
    rows = [{"image": CAT}, {"image": ROCKET}]
    for (b1, s1, _), (b2, s2, _) in zip(batched(classify_handler, rows), alone(classify_handler, rows)):
        assert s1 is s2 is None
        assert_same_predictions(b1, b2)


def test_an_unexpected_failure_is_a_500_for_that_request_only(classify_handler, monkeypatch):
    monkeypatch.setattr(classify_module.classify, "classify",
                        lambda bb, x, k: (_ for _ in ()).throw(RuntimeError("boom")))
    answers = batched(classify_handler, [{"image": CAT}, {"image": b"junk"}])
    assert [status for _, status, _ in answers] == [500, 400]
    assert json.loads(answers[0][0])["type"] == "InternalError"


def test_batched_handlers_share_one_base():
    assert issubclass(ClassifyHandler, base.BatchedHandler) and issubclass(SaliencyHandler, base.BatchedHandler)


@pytest.fixture(scope="module")
def stylize_handler():
    from stylize import StylizeHandler

    ctx = FakeContext()
    ctx.model_yaml_config["convlens"].update(stylizers=str(ROOT / "model_store" / "stylizers"), tile=128,
                                             onnx_threads=1)
    handler = StylizeHandler()
    handler.initialize(ctx)
    return handler


def pixels_of(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"), dtype=np.int16)


def test_batched_stylize_equals_unbatched_and_groups_by_network_blend_and_size(stylize_handler, monkeypatch):
    from convlens.stylize import runtime

    blend = b"stained_glass:0.7,cubist:0.3"
    big = jpeg(data.astronaut(), (200, 150))  # larger than the 128 px tile: tiled, so it runs alone
    rows = [{"image": CAT, "style": b"stained_glass", "format": b"png"},
            {"image": ROCKET, "style": b"stained_glass", "format": b"png"},
            {"image": COFFEE, "style": b"brush_flow", "format": b"png"},
            {"image": CAT, "blend": blend, "format": b"png"}, {"image": ROCKET, "blend": blend, "format": b"png"},
            {"image": COFFEE, "style": b"stained_glass", "strength": b"0.5", "format": b"png"},
            {"image": big, "style": b"stained_glass", "format": b"png"}, {"image": CAT, "style": b"nope"}]
    shared, single = [], []
    batch_fn, single_fn = runtime.stylize_batch, runtime.stylize
    monkeypatch.setattr(runtime, "stylize_batch", lambda m, ims, *a: shared.append((m.name, len(ims))) or
                        batch_fn(m, ims, *a))
    monkeypatch.setattr(runtime, "stylize", lambda m, im, *a, **k: single.append(m.name) or single_fn(m, im, *a, **k))
    together = batched(stylize_handler, rows)
    assert sorted(shared) == [("mosaic4.lite", 2), ("stained_glass.lite", 2)]  # the default: the students
    assert sorted(single) == ["brush_flow.lite", "stained_glass.lite", "stained_glass.lite"]  # other net; other
    # strength; tiled
    alone_answers = alone(stylize_handler, rows)
    assert together[-1][1] == alone_answers[-1][1] == 400
    for (b1, s1, t1), (b2, s2, t2) in zip(together[:-1], alone_answers[:-1]):
        assert s1 is s2 is None and t1 == t2 == "image/png"
        assert np.abs(pixels_of(b1) - pixels_of(b2)).max() <= 1  # float rounding may move a level


def test_every_handler_module_defines_one_class_as_torchserve_requires():
    """TorchServe loads a handler module only if it defines exactly one class (helpers belong elsewhere)."""
    import ast

    endpoints = [p.stem for p in (ROOT / "model_store").glob("*.yaml") if (ROOT / "handlers" / f"{p.stem}.py").exists()]
    assert len(endpoints) >= 17
    for endpoint in endpoints:
        tree = ast.parse((ROOT / "handlers" / f"{endpoint}.py").read_text())
        classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
        assert len(classes) == 1, f"handlers/{endpoint}.py defines {classes}"
