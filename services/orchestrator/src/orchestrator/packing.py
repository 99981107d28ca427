"""A pydantic model tree as MessagePack, read back without validation (the worker's own values).

The ``customers`` table holds values only this worker's code wrote; validating them again on
every read cost about as much as writing them (pydantic builds about 100 models per customer:
a timeline, contacts, actions, the outbox). Here a model is written as a map of its fields
(``msgspec``, in C; a model becomes its ``__dict__`` less the fields marked ``exclude``), and
read by a builder made once per model class from its fields' annotations: nested models, lists,
tuples and dicts of them, enums, times and floats are rebuilt as validation would have left
them, missing fields take their defaults, and the object is filled in place
(``model_construct``'s way, without its per-call overhead).

Times keep their UTC offset: one at offset zero is a MessagePack timestamp, any other is ISO
text (a timestamp holds the instant only, and the API and the profile show the offset).

What the builder cannot be sure of (an unknown field, a missing required one, a union of
models, a shape it has no rule for, a model with validators or serializers) is handed to
pydantic's validation instead, so a value of another version still loads (or fails as it
would have), just more slowly.
"""

from __future__ import annotations

import enum
import functools
import operator
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec
from pydantic import BaseModel, TypeAdapter

Model = TypeVar("Model", bound=BaseModel)
Build = Callable[[Any], Any]


class UnbuildableError(ValueError):
    """A decoded value the builder cannot vouch for (it is validated instead)."""


Write = Callable[[Any], dict[str, Any]]
# How to write each model class met so far (made once per class by :func:`_writer`).
_WRITERS: dict[type, Write] = {}
_dict_of: Write = operator.attrgetter("__dict__")


def _special_fields(model_type: type[BaseModel]) -> tuple[set[str], list[str], list[str]]:
    """A model's fields marked ``exclude``, its times and its lists of times."""
    excluded: set[str] = set()
    times: list[str] = []
    time_lists: list[str] = []
    for name, info in model_type.model_fields.items():
        if info.exclude:
            excluded.add(name)
            continue
        annotation = info.annotation
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if annotation is datetime or (
            origin in (typing.Union, types.UnionType) and set(args) - {type(None)} == {datetime}
        ):
            times.append(name)
        elif origin is list and args == (datetime,):
            time_lists.append(name)
    return excluded, times, time_lists


def _writer(model_type: type[BaseModel]) -> Write:
    """How to write a model: its ``__dict__`` when it has no special fields, the faster
    :func:`_times_writer` when times are all it has, else :func:`general_writer`."""
    excluded, times, time_lists = _special_fields(model_type)
    if not (excluded or times or time_lists):
        return _dict_of
    if not (excluded or time_lists):
        return _times_writer(tuple(times))
    return general_writer(model_type)


def general_writer(model_type: type[BaseModel]) -> Write:
    """A model's fields as a map: its ``__dict__``, less the fields marked ``exclude``, with
    times at an offset other than zero as ISO text (copied only when there is one). Any model
    (the faster writers are tested against it)."""
    excluded, times, time_lists = _special_fields(model_type)

    def write(model: Any) -> dict[str, Any]:
        fields: dict[str, Any] = model.__dict__
        copied = bool(excluded)
        if copied:
            fields = {k: v for k, v in fields.items() if k not in excluded}
        for name in times:
            at = fields[name]
            if at is not None and at.utcoffset():  # zero (UTC) and None (naive) stay as they are
                if not copied:
                    fields, copied = dict(fields), True
                fields[name] = at.isoformat()
        for name in time_lists:
            if any(at.utcoffset() for at in fields[name]):
                if not copied:
                    fields, copied = dict(fields), True
                fields[name] = [at.isoformat() if at.utcoffset() else at for at in fields[name]]
        return fields

    return write


def _times_writer(times: tuple[str, ...]) -> Write:
    """The writer of a model whose only special fields are times (most of a customer's models:
    timeline entries, contacts): its ``__dict__`` as it is unless a time is at a non-zero
    offset, the one check per time that costs little when it is UTC."""

    def write_times(model: Any) -> dict[str, Any]:
        fields: dict[str, Any] = model.__dict__
        for name in times:
            at = fields[name]
            if at is not None and at.tzinfo is not UTC and at.utcoffset():
                return {
                    k: v.isoformat() if k in times and v is not None and v.utcoffset() else v
                    for k, v in fields.items()
                }
        return fields

    return write_times


def _enc_hook(value: Any) -> Any:
    write = _WRITERS.get(type(value))
    if write is None:
        if not isinstance(value, BaseModel):
            raise NotImplementedError(f"cannot pack {type(value).__name__}")
        write = _WRITERS[type(value)] = _writer(type(value))
    return write(value)


_ENCODER = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_DECODER = msgspec.msgpack.Decoder()


def pack(model: BaseModel) -> bytes:
    """``model`` as MessagePack: each model a map of its stored fields.

    Raises ``NotImplementedError`` for a value MessagePack cannot hold as it is, and
    ``OverflowError`` for an integer beyond 64 bits."""
    return _ENCODER.encode(model)


def unpack(model_type: type[Model], data: bytes | memoryview) -> Model:
    """A model written by :func:`pack`, rebuilt without validation where that is safe."""
    try:
        built: Model = _model_builder(model_type)(_DECODER.decode(data))
    except (UnbuildableError, TypeError, ValueError, AttributeError, KeyError):
        # Decoded again: the builder fills the decoded maps in place.
        return model_type.model_validate(_DECODER.decode(data))
    return built


def _validated(annotation: Any) -> Build:
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    return adapter.validate_python


def _time(value: Any) -> datetime:
    # A time at offset zero comes back as a MessagePack timestamp; any other (or a naive one,
    # which msgspec writes as text itself) as ISO text.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _double(value: Any) -> Any:
    return float(value) if type(value) is int else value


def _plain(value: Any) -> Any:
    return value


@functools.cache
def _builder(annotation: Any) -> Build | None:
    """How to rebuild a decoded value of ``annotation``; ``None`` when it is used as decoded."""
    if annotation in (str, int, bool, Any, type(None)) or typing.get_origin(annotation) is (
        typing.Literal
    ):
        return None
    if annotation is float:
        return _double
    if annotation is datetime:
        return _time
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_builder(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1 and len(args) == 2:
            return _optional_builder(_builder(options[0]))
        if all(_builder(a) is None for a in options):
            return None  # e.g. str | int | None: as decoded
        return _validated(annotation)
    if origin is list and len(args) == 1:
        return _list_builder(_builder(args[0]))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        each = _builder(args[0]) or _plain
        return lambda value: tuple(each(v) for v in value)
    if origin is dict and len(args) == 2 and args[0] is str:
        return _dict_builder(_builder(args[1]))
    return _validated(annotation)


def _optional_builder(inner: Build | None) -> Build | None:
    if inner is None:
        return None
    return lambda value: None if value is None else inner(value)


def _list_builder(each: Build | None) -> Build | None:
    if each is None:
        return None
    return lambda value: [each(v) for v in value]


def _dict_builder(each: Build | None) -> Build | None:
    if each is None:
        return None
    return lambda value: {k: each(v) for k, v in value.items()}


@functools.cache
def _model_builder(model_type: type[BaseModel]) -> Build:
    """A builder for one model class, from its fields (made once per class); pydantic's
    validation for a class whose values the builder could not rebuild faithfully."""
    try:
        return _direct_builder(model_type)
    except TypeError:
        return model_type.model_validate


def _direct_builder(model_type: type[BaseModel]) -> Build:
    decorators = model_type.__pydantic_decorators__
    if model_type.model_config.get("extra") == "allow":
        raise TypeError(f"{model_type.__name__}: extra fields allowed")
    if model_type.__private_attributes__ or any(
        (decorators.validators, decorators.field_validators, decorators.root_validators,
         decorators.model_validators, decorators.field_serializers,
         decorators.model_serializers)
    ):  # fmt: skip
        raise TypeError(f"{model_type.__name__}: validators, serializers or private attributes")
    fields = model_type.model_fields
    names = frozenset(fields)
    required = frozenset(name for name, info in fields.items() if info.is_required())
    # Every field in declaration order (the order pydantic writes them in), with its default
    # where it has a plain one: a decoded map laid over it keeps that order.
    defaults: dict[str, Any] = dict.fromkeys(fields)
    factories: list[tuple[str, Callable[[], Any]]] = []
    for name, info in fields.items():
        if info.default_factory_takes_validated_data:
            raise TypeError(f"{model_type.__name__}.{name}: a default made from the data")
        if info.default_factory is not None:
            factories.append((name, info.default_factory))  # type: ignore[arg-type]
        elif not info.is_required():
            if not isinstance(info.default, str | int | float | bool | enum.Enum | type(None)):
                raise TypeError(f"{model_type.__name__}.{name}: a mutable default")
            defaults[name] = info.default
    nested: list[tuple[str, Build]] = []
    for name, info in fields.items():
        annotation: Any = info.annotation
        rebuild = _builder(annotation)
        if rebuild is not None:
            nested.append((name, rebuild))
    new = model_type.__new__
    set_attribute = object.__setattr__

    def build(data: Any) -> BaseModel:
        if type(data) is not dict:
            raise UnbuildableError(f"{model_type.__name__}: not a map")
        keys = data.keys()
        if keys == names:  # every field, as :func:`pack` writes them: the map is the model's
            values = data
            for name, rebuild_field in nested:
                values[name] = rebuild_field(values[name])
        else:  # another version's value: defaults for what is missing
            if not keys <= names or not required <= keys:
                raise UnbuildableError(f"{model_type.__name__}: fields differ")
            values = {**defaults, **data}
            for name, factory in factories:
                if name not in data:
                    values[name] = factory()
            for name, rebuild_field in nested:
                if name in data:
                    values[name] = rebuild_field(data[name])
        built = new(model_type)
        set_attribute(built, "__dict__", values)
        set_attribute(built, "__pydantic_fields_set__", set(keys))
        set_attribute(built, "__pydantic_extra__", None)
        set_attribute(built, "__pydantic_private__", None)
        return built

    return build
