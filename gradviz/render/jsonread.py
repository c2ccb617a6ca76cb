"""Reading trace.json: JSON objects back into the model's records, driven by its type hints.

Fields added to the model later are read too; fields a file lacks take their defaults, and keys the
model does not know are ignored, so traces written by older and newer gradviz read alike.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any

from gradviz.model import BackwardCall, Nested, Value
from gradviz.render.jsonvalues import RENAMES, as_float, decode_nested

_Decoder = Callable[[Any], Any]


def _strip_optional(hint: Any) -> tuple[Any, bool]:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        rest = tuple(arg for arg in args if arg is not type(None))
        return (rest[0] if len(rest) == 1 else Any), True
    return hint, False


def _decoder_for(hint: Any) -> _Decoder:
    inner, optional = _strip_optional(hint)
    decode = _plain_decoder(inner)
    if not optional:
        return decode
    return lambda data: None if data is None else decode(data)


def _plain_decoder(hint: Any) -> _Decoder:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return lambda data: decode_record(hint, data)
    origin = typing.get_origin(hint)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder_for(args[0])
            return lambda data: tuple(item(entry) for entry in _as_list(data))
        items = [_decoder_for(arg) for arg in args]
        return lambda data: tuple(dec(entry) for dec, entry in zip(items, _as_list(data), strict=True))
    if hint is float:
        return as_float
    if hint in (int, str, bool):
        return lambda data: _as_type(hint, data)
    return lambda data: data


def _as_list(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise TypeError(f"expected a list, got {type(data).__name__}")
    return data


def _as_type(kind: type, data: Any) -> Any:
    if not isinstance(data, kind) or (kind is int and isinstance(data, bool)):
        raise TypeError(f"expected {kind.__name__}, got {type(data).__name__}")
    return data


_FIELD_DECODERS: dict[type, list[tuple[str, str, _Decoder, bool]]] = {}


def _fields_of(cls: type) -> list[tuple[str, str, _Decoder, bool]]:
    cached = _FIELD_DECODERS.get(cls)
    if cached is None:
        hints = typing.get_type_hints(cls)
        renames = RENAMES.get(cls, {})
        cached = []
        for f in dataclasses.fields(cls):
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            decode = _decoder_for(hints[f.name])
            if cls is Value and f.name == "values":
                decode = _decode_optional_nested
            cached.append((f.name, renames.get(f.name, f.name), decode, required))
        _FIELD_DECODERS[cls] = cached
    return cached


def _decode_optional_nested(data: Any) -> Nested | None:
    return None if data is None else decode_nested(data)


def decode_record(cls: type, data: Any) -> Any:
    """One model record of type `cls` from its JSON object.

    Args:
        cls: A model dataclass (a `BackwardCall`'s object also holds its graph's fields).
        data: The parsed JSON.

    Returns:
        The record.

    Raises:
        KeyError: A required field is missing.
        TypeError: A field holds the wrong kind of JSON value.
        ValueError: Values are nested too deeply.
    """
    if not isinstance(data, dict):
        raise TypeError(f"expected an object for {cls.__name__}, got {type(data).__name__}")
    if cls is BackwardCall and "graph" not in data:
        data = {**data, "graph": data}
    kwargs: dict[str, Any] = {}
    for name, key, decode, required in _fields_of(cls):
        if key in data:
            kwargs[name] = decode(data[key])
        elif required:
            raise KeyError(f"{cls.__name__} needs {key!r}")
    return cls(**kwargs)
