"""Parameter parsing: every transport's value types, and every error naming its field."""
from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convlens.core.errors import InvalidParameter
from serving.fields import Fields
from serving.specs import parse
from serving.specs.attribution import ClassifyParams

PNG = b"\x89PNG\r\n\x1a\n fake bytes are fine here: decoding happens later"


def bad(task: str, fields: dict) -> InvalidParameter:
    with pytest.raises(InvalidParameter) as err:
        parse(task, fields)
    return err.value


def test_defaults_and_transport_value_types():
    assert parse("classify", {"image": PNG}) == ClassifyParams(image=PNG)
    grpc = parse("saliency", {"image": PNG, "target": b"285", "size": b"128", "format": b"NPY"})
    form = parse("saliency", {"image": PNG, "target": "285", "size": "128", "format": "npy"})
    json_ = parse("saliency", {"image": base64.b64encode(PNG).decode(), "target": 285, "size": 128.0,
                               "format": "npy"})
    assert grpc == form == json_
    assert json_.image == PNG and json_.target == 285 and json_.size == 128 and json_.format == "npy"


def test_image_aliases_and_data_urls():
    assert parse("classify", {"body": PNG}).image == PNG  # raw upload
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert parse("classify", {"image": url}).image == PNG


def test_target_by_label_or_index():
    assert parse("saliency", {"image": PNG, "target": "tiger cat"}).target == "tiger cat"
    assert parse("saliency", {"image": PNG, "target": b"-3"}).target == -3  # range checked by backbone
    assert parse("saliency", {"image": PNG}).target is None


@pytest.mark.parametrize("task, fields, field, words", [
    ("classify", {}, "image", "required"),
    ("classify", {"image": b""}, "image", "required"),
    ("classify", {"image": "not base64!"}, "image", "base64"),
    ("classify", {"image": [1, 2]}, "image", "encoded image"),
    ("classify", {"image": PNG, "topk": "0"}, "topk", "between 1 and 100"),
    ("classify", {"image": PNG, "topk": b"101"}, "topk", "between 1 and 100"),
    ("classify", {"image": PNG, "topk": "abc"}, "topk", "integer"),
    ("classify", {"image": PNG, "topk": True}, "topk", "boolean"),
    ("classify", {"image": PNG, "topk": 2.5}, "topk", "integer"),
    ("classify", {"image": PNG, "topk": "1e999"}, "topk", "integer"),
    ("classify", {"image": PNG, "format": "png"}, "format", "json, proto"),
    ("classify", {"image": PNG, "topk": b"\xff\xfe"}, "topk", "UTF-8"),
    ("classify", {"image": PNG, "backbone": "x" * 300}, "backbone", "longer than"),
    ("classify", {"image": PNG, "backbone": {"a": 1}}, "backbone", "text value"),
    ("classify", {"image": PNG, "tpok": "3"}, "tpok", "unknown field"),
    ("saliency", {"image": PNG, "method": "occult"}, "method", "gradient"),
    ("saliency", {"image": PNG, "size": "nan"}, "size", "integer"),
    ("saliency", {"image": PNG, "size": "31"}, "size", "between 32 and 512"),
    ("saliency", {"image": PNG, "size": "100000"}, "size", "between 32 and 512"),
    ("saliency", {"image": PNG, "view": "3d"}, "view", "heatmap, overlay"),
    ("saliency", {"image": PNG, "colormap": "jet"}, "colormap", "inferno"),
    ("saliency", {"image": PNG, "format": "gif"}, "format", "png, jpeg, json, npy, proto"),
    ("saliency", {"image": PNG, "layer": "head"}, "channel", "required"),
    ("saliency", {"image": PNG, "channel": "3"}, "layer", "required"),
])
def test_every_parameter_error_names_its_field(task, fields, field, words):
    error = bad(task, fields)
    assert error.field == field and error.code == 400
    assert words in error.message
    assert error.to_dict() == {"code": 400, "type": "InvalidParameter", "message": error.message, "field": field}


def test_number_fields_reject_non_finite():
    fields = Fields({"x": "inf", "y": float("nan"), "z": "-0.5"})
    for name in ("x", "y"):
        with pytest.raises(InvalidParameter, match="finite"):
            fields.number(name, 0.0, -1.0, 1.0)
    assert fields.number("z", 0.0, -1.0, 1.0) == -0.5


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["image", "topk", "format", "backbone", "zzz", "body"]),
                       st.one_of(st.binary(max_size=20), st.text(max_size=20), st.integers(), st.floats(),
                                 st.booleans(), st.none(), st.lists(st.integers(), max_size=2))))
def test_parser_only_ever_raises_invalid_parameter(fields):
    try:
        p = parse("classify", fields)
    except InvalidParameter as error:
        assert error.field is None or isinstance(error.field, str)
    else:
        assert isinstance(p.image, bytes) and 1 <= p.topk <= 100 and p.format in ("json", "proto")
