"""The declarative endpoint specs: one declaration per field gives the parser, its 400s, describe's listing and the
export; every endpoint is declared, the registry and the engine import nothing back."""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from convlens.core.errors import InvalidParameter
from serving.spec import REGISTRY, Flag, Image, Int, Ref, Text, endpoint
from serving.specs import SPECS, example_request, image_slots, parse, specs_as_json

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import build_models  # noqa: E402


@pytest.fixture
def scratch():
    """Declare throw-away endpoints in the real registry; they are removed afterwards."""
    before = set(REGISTRY)
    yield
    for name in set(REGISTRY) - before:
        del REGISTRY[name]


def test_every_served_endpoint_is_declared_once():
    assert sorted(SPECS) == build_models.endpoints() and len(SPECS) >= 17  # none lost; new ones need no edit here
    with pytest.raises(AssertionError, match="declared twice"):
        endpoint("saliency")(type("Again", (), {"__annotations__": {}}))


def test_the_readme_lists_every_endpoint_once_linking_the_page_of_its_fields():
    """README's endpoint table: one row per declared endpoint, linking the docs/api page with its fields table."""
    table = (ROOT / "README.md").read_text().split("| endpoint | what it answers | docs |", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \|.*\]\((docs/api/[\w.]+\.md)#[\w-]+\) \|$", table, re.MULTILINE)
    assert sorted(name for name, _ in rows) == sorted(SPECS), "one README row per endpoint"
    for name, page in rows:
        assert f"<!-- fields:{name} -->" in (ROOT / page).read_text(), (name, page)


def test_the_registry_and_the_engine_import_nothing_back():
    """serving.spec registers but loads no declarations; the engine imports neither serving nor TorchServe."""
    code = "import sys, serving.spec; print(sorted(m for m in sys.modules if m.startswith('serving')))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "handlers", capture_output=True, text=True,
                            check=True).stdout
    assert loaded.strip() == "['serving', 'serving.fields', 'serving.spec']"
    for path in (ROOT / "handlers" / "convlens").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            assert not [n for n in names if n.split(".")[0] in ("serving", "ts")], path


def test_one_declaration_gives_parser_errors_and_export(scratch):
    """What adding an endpoint or a field takes: the class below, nothing else."""

    class Mixin:
        backbone: str | None = Text("the network")

    def below_size(p) -> None:
        if p.lo_side >= p.size:
            raise InvalidParameter("lo_side", "must be below size")

    @endpoint("x_demo", below_size)
    class DemoParams(Mixin):
        """A demo endpoint."""

        image: bytes = Image("the photo", aliases=("body",))
        size: int = Int(64, 8, 128, "side in px")
        lo_side: int = Int(4, 1, Ref("size"), "a side at most `size`")
        label: str = Text("what it shows", required=True, example="cat")
        fast: bool = Flag("skip the slow part", choices=("turbo",))

    p = parse("x_demo", {"body": b"png", "size": "16", "label": "cat", "fast": "turbo"})
    assert p == DemoParams(image=b"png", size=16, lo_side=4, label="cat", fast=True, backbone=None)
    for raw, field, words in [({"label": "x"}, "image", "is required: send an encoded image"),
                              ({"image": b"i"}, "label", "is required: what it shows"),
                              ({"image": b"i", "label": "x", "size": "16", "lo_side": "17"}, "lo_side",
                               "must be between 1 and 16, got 17"),
                              ({"image": b"i", "label": "x", "lo_side": "64"}, "lo_side", "must be below size"),
                              ({"image": b"i", "label": "x", "szie": "3"}, "szie", "unknown field 'szie'")]:
        with pytest.raises(InvalidParameter) as err:
            parse("x_demo", raw)
        assert err.value.field == field and words in err.value.message
    exported = SPECS["x_demo"].as_json()
    assert exported["summary"] == "A demo endpoint." and [f["name"] for f in exported["fields"]] == [
        "image", "size", "lo_side", "label", "fast", "backbone"]
    assert exported["fields"][2] == {"name": "lo_side", "type": "int", "required": False, "default": 4,
                                     "help": "a side at most `size`", "minimum": 1, "maximum": 128,
                                     "maximum_by": "size"}
    assert exported["fields"][3]["example"] == "cat" and exported["fields"][4]["also_true"] == ["turbo"]


def test_method_options_are_declared_by_the_engine_and_refused_elsewhere():
    spec = SPECS["saliency"]
    assert spec.only_with("method", "smoothgrad") == ["noise", "samples", "batch_size", "seed"]
    # `sign` draws the signed map: a field of the signed methods, not an engine option
    assert spec.only_with("method", "integrated_gradients") == ["sign", "batch_size", "seed", "baseline", "steps"]
    assert spec.only_with("method", "gradient") == []
    with pytest.raises(InvalidParameter) as err:
        parse("saliency", {"image": b"i", "steps": "3"})
    assert err.value.field == "steps" and err.value.message == (
        "'steps' is not used by method 'gradient' (only by integrated_gradients)")
    p = parse("saliency", {"image": b"i", "method": "integrated_gradients", "batch_size": "0"})
    assert p.options == {"baseline": "black", "steps": 32, "batch_size": None, "seed": 0} and p.noise is None


def test_export_is_json_and_describes_every_field():
    exported = specs_as_json()
    assert json.loads(json.dumps(exported)) == exported and list(exported) == sorted(SPECS)
    for name, spec in exported.items():
        assert spec["summary"] and spec["fields"], name
        for f in spec["fields"]:
            assert f["help"] and f["type"] in ("image", "images", "text", "int", "float", "choice", "flag",
                                               "target", "position", "layers", "weights", "blend", "metrics",
                                               "style_ids"), \
                (name, f)
            if f["type"] == "choice":
                assert f.get("default") is None or f["default"] in f["choices"]
            if "minimum" in f and "default" in f:
                assert f["minimum"] <= f["default"] <= f["maximum"], (name, f)
    texture = {f["name"]: f for f in exported["texture"]["fields"]}
    assert texture["layers"]["default"] == "pixels,stem,block2,block4,block6"  # as a client sends it
    tsne = {f["name"]: f for f in exported["tsne"]["fields"]}
    assert tsne["image"]["numbered"] and tsne["image"]["zip"] == "zip" and tsne["image"]["max_images"] == 32


@pytest.mark.parametrize("name", sorted(SPECS))
def test_declared_defaults_parse(name):
    """A request of only the required fields (examples for those without a default) parses to the defaults."""
    spec = SPECS[name]
    raw = {f.name: b"img" if f.kind.name.startswith("image") else str(f.example)
           for f in spec.fields if f.required or f.example is not None}
    if name == "tsne":
        raw.update(image_2=b"img", image_3=b"img")
    p = parse(name, raw)
    for f in spec.fields:
        if not f.required and f.example is None and f.only is None:
            assert getattr(p, f.attr) == f.default, (name, f.name)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_example_request_is_valid_and_needs_each_required_part(name):
    """example_request, the one valid request per endpoint that tests and benchmarks build on, parses; without one
    of its image slots or required fields it does not (so it is minimal where the spec says what is required)."""
    spec = SPECS[name]
    request = example_request(name, [b"img"])
    parse(name, request)
    declared = {f.name for f in spec.fields}
    assert set(image_slots(name, request)) <= set(request) and set(request) <= declared | set(image_slots(name))
    for key in request:
        if key in image_slots(name, request) or (key in declared and spec.field(key).required):
            with pytest.raises(InvalidParameter):
                parse(name, {k: v for k, v in request.items() if k != key})


def test_example_request_values_override_and_drop():
    assert example_request("top_patches") == {"channel": "3"}  # no photos: the text fields only
    assert example_request("top_patches", [b"a"], channel=7, image_2=b"b", guided=True) == {
        "channel": "7", "image": b"a", "image_2": b"b", "guided": "true"}
    assert example_request("fooling", [b"a"], target=None) == {"image": b"a"}
    # a numbered field's minimum may depend on another field: tsne needs 3 images, with method=pca 2
    assert example_request("tsne", [b"a", b"b", b"c"]) == {"image": b"a", "image_2": b"b", "image_3": b"c"}
    assert example_request("tsne", [b"a", b"b"], method="pca") == {"method": "pca", "image": b"a", "image_2": b"b"}
    assert image_slots("style_transfer") == ["content", "style"] and image_slots("filters") == []
    assert example_request("neighbors", [b"q", b"g"]) == {"image": b"q", "gallery": b"g"}
