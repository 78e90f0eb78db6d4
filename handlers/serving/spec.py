"""Declarative endpoint specs: every request field is declared once, and the parser, the 400 messages, describe's
field listing and the machine-readable export (OpenAPI, docs tables, CLI options) all come from that declaration.

An endpoint is a class whose annotated attributes are fields, registered with `@endpoint`:

    @endpoint("classify")
    class ClassifyParams:
        '''Top-k ImageNet classes of a photo.'''
        image: bytes = Image("the photo")
        topk: int = Int(5, 1, 100, "how many classes to return")

The decorator turns the class into the endpoint's frozen params dataclass (annotated attributes without a Field,
such as saliency's `options`, are values that checks fill in) and records an EndpointSpec in REGISTRY. This
module imports no spec module: `serving.specs` imports them all and is what handlers use.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from convlens.core.errors import InvalidParameter

from .fields import FALSE, MAX_TEXT, TRUE, Fields

Values = Mapping[str, Any]  # the values parsed so far, by attribute name
Reader = Callable[[Fields, "Field", Values], Any]
Check = Callable[[Any], Any]  # params -> params (replaced) or None; raises InvalidParameter / TooLarge
Condition = Callable[[Fields, Values], bool]  # whether to read a field at all; may raise a 400 saying why not


@dataclass(frozen=True)
class Kind:
    """How one kind of field is read from the request, and how its values look to clients (JSON Schema)."""

    name: str
    read: Reader
    schema: Mapping[str, Any]  # one value in a JSON body
    form: Mapping[str, Any] | None = None  # one value in a multipart form, where it differs (files)
    wire: Callable[[Any], Any] = lambda value: value  # a default as a client would send it
    info: Mapping[str, Any] | None = None  # extra keys of the exported field (e.g. numbered image fields)
    bounds: tuple[str, str] = ("minimum", "maximum")  # what `lo` and `hi` are called in the export


@dataclass(frozen=True)
class Ref:
    """A bound that is another (earlier) field's value, or looked up by that value in `table`."""

    field: str
    table: Mapping[Any, float] | None = None

    def resolve(self, values: Values) -> Any:
        """The bound for this request."""
        value = values[self.field]
        return value if self.table is None else self.table[value]


Bound = float | Ref | None


@dataclass(frozen=True)
class Field:
    """One request field: its kind, default, bounds or choices, one-line help, aliases and conditions."""

    kind: Kind
    default: Any = None
    help: str = ""
    lo: Bound = None
    hi: Bound = None
    choices: tuple[str, ...] = ()  # for flags: more spellings of true
    aliases: tuple[str, ...] = ()  # other names of an image field (raw uploads arrive as `body`)
    required: bool = False
    only: tuple[str, tuple[str, ...]] | None = None  # accepted only when that field has one of these values
    when: Condition | None = None  # read only when this holds (None otherwise), for rules `only` cannot say
    example: Any = None  # a valid value for documentation and generated requests, where there is no default
    name: str = ""  # on the wire; the attribute name unless given
    attr: str = ""

    def bound(self, which: str, values: Values) -> Any:
        """`lo` or `hi` for this request (a Ref is resolved against the values parsed so far)."""
        value = getattr(self, which)
        return value.resolve(values) if isinstance(value, Ref) else value

    def read(self, fields: Fields, values: Values) -> Any:
        """This field's typed value; a field used only with other values of `only` may not be sent."""
        if self.only is not None:
            other, accepted = self.only
            if values[other] not in accepted:
                if fields.present(self.name):
                    raise InvalidParameter(self.name, f"'{self.name}' is not used by {other} '{values[other]}' "
                                                      f"(only by {', '.join(accepted)})")
                return None
        if self.when is not None and not self.when(fields, values):
            return None
        return self.kind.read(fields, self, values)


def required_first(read: Reader) -> Reader:
    """A reader that says what a required field is for when it is missing ("is required: <help>")."""

    def reader(fields: Fields, f: Field, values: Values) -> Any:
        if f.required and not fields.present(f.name):
            raise InvalidParameter(f.name, f"is required: {f.help}")
        return read(fields, f, values)

    return reader


def read_image(fields: Fields, f: Field, values: Values) -> bytes | None:
    """Encoded image bytes; an optional image is None when absent."""
    if f.required or any(fields.present(key) for key in (f.name, *f.aliases)):
        return fields.image(f.name, f.aliases)
    return None


TEXT = Kind("text", required_first(lambda fields, f, v: fields.text(f.name, f.default)),
            {"type": "string", "maxLength": MAX_TEXT})
INT = Kind("int", required_first(lambda fields, f, v: fields.integer(f.name, f.default, f.bound("lo", v),
                                                                     f.bound("hi", v))), {"type": "integer"})
FLOAT = Kind("float", required_first(lambda fields, f, v: fields.number(f.name, f.default, f.bound("lo", v),
                                                                        f.bound("hi", v))), {"type": "number"})
CHOICE = Kind("choice", required_first(lambda fields, f, v: fields.choice(f.name, f.default, f.choices)),
              {"type": "string"})
FLAG = Kind("flag", lambda fields, f, v: fields.flag(f.name, f.default, f.choices),
            {"anyOf": [{"type": "boolean"}, {"type": "string", "enum": [*TRUE, *FALSE]}]})
TARGET = Kind("target", required_first(lambda fields, f, v: fields.class_target(f.name)),
              {"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": MAX_TEXT}]})
IMAGE = Kind("image", read_image, {"type": "string", "contentEncoding": "base64"},
             form={"type": "string", "contentMediaType": "application/octet-stream"})


def declare(kind: Kind, default: Any = None, help: str = "", **options: Any) -> Any:
    """A Field (typed Any so that `topk: int = Int(...)` type-checks as the value it declares)."""
    return Field(kind, default, help, **options)


def Text(help: str, default: str | None = None, **options: Any) -> Any:
    """A short text value (names, labels), at most MAX_TEXT characters."""
    return declare(TEXT, default, help, **options)


def Int(default: int | None, lo: int | Ref, hi: int | Ref, help: str, **options: Any) -> Any:
    """An integer in [lo, hi] (default None: optional, absent stays None)."""
    return declare(INT, default, help, lo=lo, hi=hi, **options)


def Float(default: float | None, lo: float, hi: float, help: str, **options: Any) -> Any:
    """A finite number in [lo, hi]."""
    return declare(FLOAT, default, help, lo=lo, hi=hi, **options)


def Choice(default: str | None, choices: Sequence[str], help: str, **options: Any) -> Any:
    """One of `choices`, case-insensitive (engine facts such as method names are passed in from the engine)."""
    return declare(CHOICE, default, help, choices=tuple(choices), **options)


def Flag(help: str, default: bool = False, **options: Any) -> Any:
    """A boolean (true/false, 1/0, yes/no, on/off); `choices` adds spellings of true."""
    return declare(FLAG, default, help, **options)


def Target(help: str, **options: Any) -> Any:
    """A class by index or label, resolved against the backbone's labels by the handler."""
    return declare(TARGET, None, help, **options)


def Image(help: str, required: bool = True, **options: Any) -> Any:
    """Encoded image bytes (base64 text in JSON bodies), required unless said otherwise."""
    return declare(IMAGE, None, help, required=required, **options)


@dataclass(frozen=True)
class EndpointSpec:
    """An endpoint's request: its fields in parsing order, its params dataclass and its cross-field checks."""

    name: str
    summary: str
    fields: tuple[Field, ...]
    params: type
    checks: tuple[Check, ...] = ()

    def field(self, name: str) -> Field:
        """The field sent as `name`."""
        return next(f for f in self.fields if f.name == name)

    def by_attr(self, attr: str) -> Field:
        """The field read into params attribute `attr` (conditions and bounds name fields so)."""
        return next(f for f in self.fields if f.attr == attr)

    def choices(self, name: str) -> list[str]:
        """The allowed values of choice field `name` (for describe)."""
        return list(self.field(name).choices)

    def only_with(self, name: str, value: str) -> list[str]:
        """The fields accepted only when field `name` is `value` (e.g. a saliency method's own options)."""
        return [f.name for f in self.fields if f.only is not None and f.only[0] == name and value in f.only[1]]

    def parse(self, raw: Mapping[str, Any]) -> Any:
        """Typed params from the flat field map; InvalidParameter (or TooLarge) names the field at fault."""
        fields = Fields(raw)
        values: dict[str, Any] = {}
        for f in self.fields:
            values[f.attr] = f.read(fields, values)
        params = self.params(**values)
        for check in self.checks:
            params = check(params) or params
        fields.reject_unknown()
        return params

    def widest(self, f: Field, which: str) -> Any:
        """A bound as one number for documents: a Ref's widest value."""
        bound = getattr(f, which)
        if not isinstance(bound, Ref):
            return bound
        if bound.table is not None:
            return (min if which == "lo" else max)(bound.table.values())
        return self.widest(self.by_attr(bound.field), which)

    def field_json(self, f: Field) -> dict[str, Any]:
        """One field as describe() and the export list it: name, type, default (only when there is one: TorchServe's
        describe drops nulls), bounds/choices, help."""
        out: dict[str, Any] = {"name": f.name, "type": f.kind.name, "required": f.required, "help": f.help}
        if f.default is not None:
            out["default"] = f.kind.wire(f.default)
        for key, which in zip(f.kind.bounds, ("lo", "hi")):
            bound = getattr(f, which)
            if bound is not None:
                out[key] = self.widest(f, which)  # a bound that depends on another field: its widest value, and
            if isinstance(bound, Ref):  # the field, or the bound for each of that field's values
                by = self.by_attr(bound.field).name
                out[f"{key}_by"] = by if bound.table is None else {by: dict(bound.table)}
        if f.choices:
            out["choices" if f.kind is not FLAG else "also_true"] = list(f.choices)
        if f.aliases:
            out["aliases"] = list(f.aliases)
        if f.only is not None:
            out["only"] = {self.by_attr(f.only[0]).name: list(f.only[1])}
        if f.example is not None:
            out["example"] = f.example
        return {**out, **(f.kind.info or {})}

    def as_json(self) -> dict[str, Any]:
        """The whole endpoint, JSON-ready: name, one-line summary and its fields."""
        return {"endpoint": self.name, "summary": self.summary, "fields": [self.field_json(f) for f in self.fields]}


REGISTRY: dict[str, EndpointSpec] = {}


def parse(endpoint: str, raw: Mapping[str, Any]) -> Any:
    """Typed params of a registered `endpoint` (its area's declarations imported) from its flat field map."""
    return REGISTRY[endpoint].parse(raw)


def endpoint(name: str, *checks: Check) -> Callable[[type], type]:
    """Class decorator: the class's Field attributes become the endpoint's fields (in order, then those of plain
    mixin base classes), the class its frozen keyword-only params dataclass, and `checks` run in order on the
    parsed params."""

    def register(cls: type) -> type:
        assert name not in REGISTRY, f"endpoint {name} is declared twice"
        annotations = cls.__dict__["__annotations__"]  # mutable: mixin fields are added to it
        for base in cls.__mro__[1:-1]:  # fields of plain mixin classes come after the class's own
            for attr, value in vars(base).items():
                if isinstance(value, Field) and attr not in annotations:
                    annotations[attr] = base.__annotations__[attr]
                    setattr(cls, attr, value)
        declared: list[Field] = []
        for attr, value in list(vars(cls).items()):
            if not isinstance(value, Field):
                continue
            assert attr in annotations, f"{name}.{attr}: a field needs a type annotation"
            declared.append(replace(value, attr=attr, name=value.name or attr))
            if value.required:
                delattr(cls, attr)
            else:
                setattr(cls, attr, value.default)
        params: type = dataclass(frozen=True, kw_only=True)(cls)
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        REGISTRY[name] = EndpointSpec(name, summary, tuple(declared), params, tuple(checks))
        return params

    return register

