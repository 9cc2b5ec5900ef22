"""JSON bytes -> models through msgspec wire Structs (the ``speedups`` extra), or a miss.

With msgspec installed, :func:`decode` reads a reply body straight into msgspec Structs that
mirror the wire shape of a model and builds the attrs model from them (twin construction, as
``_fastpath`` does). Both are *generated* from the attrs models at first use: nothing here is
written per model. msgspec may only make a payload faster, never change the answer, so the
Structs accept a strict subset of what the reference path (``_json.loads`` then
``_converter.structure``) accepts, and for that subset build an equal model:

* every Struct forbids unknown fields: msgspec skips an unknown member's value without the
  reference's checks (it accepts ``1e400`` there, and nests without the depth bound), so a
  payload with a key this version does not model takes the reference path (same result, its
  usual speed); with no skipped value and no untyped field the schema bounds the depth, and
  a float never reaches an ``int`` field (msgspec refuses it, as the converter does);
* ``str``/``int``/``bool`` are msgspec's strict types (``true`` is not an int, ``1.0`` is not
  an int), as the converter's checks; integers beyond 64 bits are exact in both;
* datetimes and enums are read as ``str`` and converted by the converter's own rules
  (``datetime.fromisoformat``, naive means UTC; an unknown enum value is kept);
* outputs, content and actions are tagged unions of the types the converter knows; an
  unknown ``type`` is a msgspec error, so ``UnknownOutput`` and friends (which keep the raw
  mapping) come from the reference path; the lenient parts of those hooks (a text body that
  is not an object, files that are ``0``) are errors here too, for the same reason;
* a model with a field msgspec cannot mirror (a raw ``Mapping``, as ``ModalField.raw``) has
  no Structs: :func:`decode` misses for it.

Everything else (invalid UTF-8, a BOM, lone surrogates, ``NaN``, trailing data, a document
that is not an object, a missing required key, an invalid date) is an error on one side or
the other; any exception here is a miss, and the caller runs the reference path, which alone
decides acceptance and the exact :class:`ResponseValidationError`. ``tests/test_wire.py``
checks the two paths give the same model or the same error on generated and mutated bytes.

:data:`ENABLED` switches this off (``MOVEWORKS_ASYNC_MSGSPEC=0``, or ``false``/``no``/``off``, in
the environment at import does the same); without msgspec it is False.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from types import UnionType
from typing import Any, Final, Union, get_args, get_origin

import attrs

from . import _fastpath
from ._converter import (
    _structure_bool,
    _structure_datetime,
    _structure_enum,
    _structure_int,
    _structure_str,
    converter,
)
from ._events import (
    ResponseCompleted,
    ResponseCreated,
    ResponseFailed,
    ResponseInProgress,
    ResponseOutputDelta,
)
from ._json import STEPWISE_SIZE
from ._models import (
    Action,
    CallbackAction,
    Content,
    MessageOutput,
    ModalAction,
    OutputItem,
    ReasoningOutput,
    UrlAction,
)

__all__ = ["ENABLED", "MISS", "available", "decode", "event", "supports"]

msgspec: Any
try:
    import msgspec
except ImportError:  # pragma: no cover - exercised in environments without the extra
    msgspec = None

#: The values of ``MOVEWORKS_ASYNC_MSGSPEC`` that switch msgspec off (case and surrounding
#: spaces ignored): a user who writes ``false`` means it as much as one who writes ``0``.
_OFF_WORDS: Final = frozenset({"0", "false", "no", "off"})
#: False when the environment said ``MOVEWORKS_ASYNC_MSGSPEC=0`` (or false/no/off) at import.
_ALLOWED_BY_ENVIRONMENT: Final = (
    os.environ.get("MOVEWORKS_ASYNC_MSGSPEC", "1").strip().lower() not in _OFF_WORDS
)
#: Whether :func:`decode` and :func:`event` use msgspec: True when it is importable, unless
#: the environment said no. Tests flip it to run both paths.
ENABLED: bool = msgspec is not None and _ALLOWED_BY_ENVIRONMENT

#: What :func:`decode` returns when the caller must take the reference path.
MISS: Final[Any] = object()


def available() -> bool:
    """Whether msgspec is installed (whatever :data:`ENABLED` says)."""
    return msgspec is not None


class _Unsupported(Exception):
    """A type the wire Structs cannot mirror exactly."""


#: The actions the converter knows: ``label`` at the top, every other field in the object
#: under ``type.lower()`` (``{"type": "URL_ACTION", "label": ..., "url_action": {"url": ...}}``).
_ACTIONS: Final = (CallbackAction, UrlAction, ModalAction)
#: The outputs the converter knows: their one field under its own name.
_OUTPUTS: Final = (MessageOutput, ReasoningOutput)


class _Gen(_fastpath.CodeGen):
    """The Structs of the models reached from one top-level model, and the source of the
    function that builds that model from them."""

    def __init__(self) -> None:
        super().__init__()
        self.structs: dict[Any, Any] = {}
        #: Union type -> the bound name of its builders by member Struct.
        self.tables: dict[Any, str] = {}
        #: The classes whose Struct is being made (a recursive model is not mirrored).
        self.stack: list[Any] = []

    # --- the Structs -------------------------------------------------------------------

    def wire(self, tp: Any) -> Any:
        """The msgspec type that mirrors field type ``tp``."""
        origin, args = get_origin(tp), get_args(tp)
        if origin in (Union, UnionType) and type(None) in args:
            rest = [a for a in args if a is not type(None)]
            inner = self.wire(_union(rest) if len(rest) > 1 else rest[0])
            return inner | None
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return list[self.wire(args[0])] | None  # type: ignore[misc]
        if tp in (str, int, bool):
            if converter.get_structure_hook(tp) is not _PRIMITIVE_HOOKS[tp]:
                raise _Unsupported(tp)
            return tp
        if tp is datetime:
            if converter.get_structure_hook(tp) is not _structure_datetime:
                raise _Unsupported(tp)
            return str
        if isinstance(tp, type) and issubclass(tp, Enum):
            if converter.get_structure_hook(tp) is not _structure_enum:
                raise _Unsupported(tp)
            return str
        if tp == Action:
            return _union([self.action_struct(cls) for cls in _ACTIONS])
        if tp == OutputItem:
            return _union([self.output_struct(cls) for cls in _OUTPUTS])
        if tp is Content:
            return self.content_union()
        if isinstance(tp, type) and attrs.has(tp):
            return self.struct(tp)
        raise _Unsupported(tp)

    def struct(self, cls: type[Any]) -> Any:
        """The Struct of an attrs class whose hook is the generated one (``_fastpath``)."""
        found = self.structs.get(cls)
        if found is not None:
            return found
        if cls in self.stack:
            raise _Unsupported(cls)  # recursive models: none today
        hook = converter.get_structure_hook(cls)
        if getattr(hook, "_moveworks_generated", None) is not converter:
            raise _Unsupported(cls)  # a hand-written hook: its rules are not mirrored
        attrs.resolve_types(cls)
        self.stack.append(cls)
        try:
            fields: list[tuple[Any, ...]] = []
            for field in attrs.fields(cls):
                if not field.init or field.alias != field.name:
                    raise _Unsupported(cls)
                wire = self.wire(field.type)
                if field.default is attrs.NOTHING:
                    fields.append((field.name, wire))
                elif field.default is None or field.default == ():
                    # A missing tuple is None here, then () when built.
                    fields.append((field.name, wire, None))
                elif type(field.default) in (str, int, bool):
                    fields.append((field.name, wire, field.default))
                else:
                    raise _Unsupported(cls)
        finally:
            self.stack.pop()
        struct = _defstruct(f"{cls.__name__}Wire", fields)
        self.structs[cls] = struct
        return struct

    def action_struct(self, cls: type[Any]) -> Any:
        found = self.structs.get(cls)
        if found is not None:
            return found
        attrs.resolve_types(cls)
        names = [f.name for f in attrs.fields(cls)]
        if names[0] != "label" or any(f.type is not str for f in attrs.fields(cls)):
            raise _Unsupported(cls)
        payload = _defstruct(f"{cls.__name__}PayloadWire", [(n, str) for n in names[1:]])
        key = cls.type.lower()
        struct = _defstruct(f"{cls.__name__}Wire", [("label", str), (key, payload)], tag=cls.type)
        self.structs[cls] = struct
        return struct

    def output_struct(self, cls: type[Any]) -> Any:
        found = self.structs.get(cls)
        if found is not None:
            return found
        attrs.resolve_types(cls)
        (field,) = attrs.fields(cls)
        struct = _defstruct(
            f"{cls.__name__}Wire", [(field.name, self.wire(field.type))], tag=cls.type
        )
        self.structs[cls] = struct
        return struct

    def content_union(self) -> Any:
        found = self.structs.get(Content)
        if found is not None:
            return found
        attrs.resolve_types(Content)
        files = self.wire(attrs.fields(Content).files.type)
        body = _defstruct("TextBodyWire", [("text", str, ""), ("files", files, None)])
        members = [
            _defstruct(f"{kind}Wire", [(kind.lower(), body | None, None)], tag=kind)
            for kind in sorted(Content.TEXT_TYPES)
        ]
        callback = _defstruct("CallbackContentPayloadWire", [("callback_id", str | None, None)])
        kind = "CALLBACK_ACTION_CONTENT"
        members.append(
            _defstruct(f"{kind}Wire", [("callback_action", callback | None, None)], tag=kind)
        )
        union = _union(members)
        self.structs[Content] = union
        return union

    # --- the builder -------------------------------------------------------------------

    def convert(self, tp: Any, var: str, indent: str) -> list[str]:
        """Lines that replace the wire value in ``var`` by the model value of type ``tp``."""
        origin, args = get_origin(tp), get_args(tp)
        if origin in (Union, UnionType) and type(None) in args:
            rest = [a for a in args if a is not type(None)]
            inner = _union(rest) if len(rest) > 1 else rest[0]
            body = self.convert(inner, var, indent + "    ")
            return [f"{indent}if {var} is not None:", *body] if body else []
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            each = self.local("_i")
            items = self.local("_l")
            body = self.convert(args[0], each, indent + "        ")
            if not body:
                loop = [f"{indent}    {var} = tuple({var})"]
            else:
                loop = [
                    f"{indent}    {items} = []",
                    f"{indent}    for {each} in {var}:",
                    *body,
                    f"{indent}        {items}.append({each})",
                    f"{indent}    {var} = tuple({items})",
                ]
            none = [f"{indent}if {var} is None:", f"{indent}    {var} = ()", f"{indent}else:"]
            return none + loop
        if tp in (str, int, bool):
            return []
        if tp is datetime:
            # The converter's rule (_converter._structure_datetime): naive means UTC.
            return [
                f"{indent}{var} = {self.bind(datetime.fromisoformat)}({var})",
                f"{indent}if {var}.tzinfo is None:",
                f"{indent}    {var} = {var}.replace(tzinfo={self.bind(UTC)})",
            ]
        if isinstance(tp, type) and issubclass(tp, Enum):
            # The converter's rule (_converter._structure_enum): unknown values are kept.
            member = self.local("_m")
            return [
                f"{indent}{member} = {self.bind(tp._value2member_map_)}.get({var})",
                f"{indent}{var} = {member} if {member} is not None else {self.bind(tp)}({var})",
            ]
        if tp in (Action, OutputItem) or tp is Content:
            # A tagged union: one builder per member Struct, picked by its type.
            table = self.tables.get(tp)
            if table is None:
                table = self.tables[tp] = self.bind(self.union_builders(tp))
            return [f"{indent}{var} = {table}[type({var})]({var})"]
        if isinstance(tp, type) and attrs.has(tp):
            return self.build(tp, var, indent)
        raise _Unsupported(tp)  # pragma: no cover - wire() refused it first

    def build(self, cls: type[Any], var: str, indent: str) -> list[str]:
        """Lines that build ``cls`` from its Struct in ``var``, inlined."""
        lines: list[str] = []
        values: dict[str, str] = {}
        for field in attrs.fields(cls):
            value = self.local("v")
            values[field.name] = value
            lines.append(f"{indent}{value} = {var}.{field.name}")
            lines += self.convert(field.type, value, indent)
        return lines + self.construct(cls, values, var, indent)

    def construct(self, cls: type[Any], values: dict[str, str], var: str, indent: str) -> list[str]:
        """Lines that make ``cls`` from the ``values`` (field name -> local) into ``var``:
        a twin where ``_fastpath`` allows one, else the class itself."""
        twin = _fastpath.twin_of(cls) if _fastpath.TWINS else None
        if twin is None:
            arguments = ", ".join(f"{name}={value}" for name, value in values.items())
            return [f"{indent}{var} = {self.bind(cls)}({arguments})"]
        lines = [f"{indent}{var} = {self.bind(twin)}()"]
        lines += [f"{indent}{var}.{name} = {value}" for name, value in values.items()]
        return [*lines, f"{indent}{var}.__class__ = {self.bind(cls)}"]

    def builder(self, name: str, body: list[str]) -> Callable[[Any], Any]:
        """``name(o)``: ``body`` turns the Struct in ``o`` into its model."""
        fn: Callable[[Any], Any] = self.function(name, "o", body, "wire")
        return fn

    def union_builders(self, tp: Any) -> dict[type, Callable[[Any], Any]]:
        table: dict[type, Callable[[Any], Any]] = {}
        if tp == Action:
            for cls in _ACTIONS:
                names = [f.name for f in attrs.fields(cls)]
                key = cls.type.lower()
                lines = [f"    {key} = o.{key}", "    label = o.label"]
                values = {"label": "label"}
                for name in names[1:]:
                    lines.append(f"    {name}_ = {key}.{name}")
                    values[name] = f"{name}_"
                lines += self.construct(cls, values, "o", "    ")
                table[self.action_struct(cls)] = self.builder(f"build_{cls.__name__}", lines)
        elif tp == OutputItem:
            for output in _OUTPUTS:
                (field,) = attrs.fields(output)
                lines = [f"    value = o.{field.name}", *self.convert(field.type, "value", "    ")]
                lines += self.construct(output, {field.name: "value"}, "o", "    ")
                build = self.builder(f"build_{output.__name__}", lines)
                table[self.output_struct(output)] = build
        else:
            union = self.content_union()
            files = attrs.fields(Content).files.type
            for member in get_args(union):
                kind = member.__struct_config__.tag
                key = kind.lower()
                if kind in Content.TEXT_TYPES:
                    # _converter's content hook: a missing or null body is empty text.
                    lines = [
                        f"    body = o.{key}",
                        "    if body is None:",
                        "        text = ''",
                        "        files = ()",
                        "    else:",
                        "        text = body.text",
                        "        files = body.files",
                        *self.convert(files, "files", "        "),
                        "    callback_id = None",
                    ]
                else:
                    lines = [
                        "    payload = o.callback_action",
                        "    callback_id = None if payload is None else payload.callback_id",
                        "    text = ''",
                        "    files = ()",
                    ]
                lines.append(f"    kind = {kind!r}")
                values = {n: n for n in ("text", "callback_id", "files")}
                lines += self.construct(Content, {"type": "kind", **values}, "o", "    ")
                table[member] = self.builder(f"build_{kind}", lines)
        return table


#: The converter's strict checks of the primitives: a field whose hook is another one (a
#: converter configured differently) is not mirrored.
_PRIMITIVE_HOOKS: Final[dict[type, Callable[[Any, Any], Any]]] = {
    str: _structure_str,
    int: _structure_int,
    bool: _structure_bool,
}


def _union(members: list[Any]) -> Any:
    result = members[0]
    for member in members[1:]:
        result = result | member
    return result


def _defstruct(name: str, fields: list[tuple[Any, ...]], *, tag: str | None = None) -> Any:
    # gc=False: the decoder builds trees (JSON has no cycles) that only the builder reads and
    # then drops, so the collector need not track them (~5 % of a Response's conversion).
    options: dict[str, Any] = {"forbid_unknown_fields": True, "kw_only": True, "gc": False}
    if tag is not None:
        options.update(tag_field="type", tag=tag)
    return msgspec.defstruct(name, fields, module=__name__, **options)


#: Consecutive misses of one model (or event) after which :func:`decode` / :func:`event` stop
#: trying msgspec for it for :data:`SKIP_AFTER_MISSES` replies. A newer server that adds a
#: field sends it in every reply, and every such reply would pay a msgspec attempt that fails
#: (up to a whole extra decode, when the new field comes last) before the reference path: the
#: back-off brings that down to one attempt in ``SKIP_AFTER_MISSES``.
MISSES_BEFORE_SKIP: Final = 2
#: Replies (or events) of that model taken straight to the reference path before msgspec is
#: tried again (a server that stops sending the field gets the fast path back).
SKIP_AFTER_MISSES: Final = 64


class _Entry:
    __slots__ = ("build", "decode", "misses", "skip")

    def __init__(self, decode: Callable[[bytes], Any], build: Callable[[Any], Any]) -> None:
        self.decode = decode
        self.build = build
        #: Consecutive misses, and replies still to take straight to the reference path.
        self.misses = 0
        self.skip = 0

    def read(self, data: Any) -> Any:
        """The model of ``data``, or :data:`MISS`; never raises."""
        if self.skip:
            self.skip -= 1
            return MISS
        try:
            value = self.build(self.decode(data))
        except Exception:
            self.misses += 1
            if self.misses >= MISSES_BEFORE_SKIP:
                self.misses = 0
                self.skip = SKIP_AFTER_MISSES
            return MISS
        self.misses = 0
        return value


def _compile(cls: Any) -> _Entry | None:
    """The decoder and builder of ``cls``, or None if it cannot be mirrored."""
    if msgspec is None or not (isinstance(cls, type) and attrs.has(cls)):
        return None
    gen = _Gen()
    try:
        struct = gen.wire(cls)
        body = gen.build(cls, "o", "    ")
    except _Unsupported:
        return None
    build = gen.builder(f"build_{cls.__name__}", body)
    return _Entry(msgspec.json.Decoder(struct).decode, build)


_entries: dict[Any, _Entry | None] = {}


def supports(cls: Any) -> bool:
    """Whether :func:`decode` can read ``cls`` (msgspec installed and the model mirrored)."""
    entry = _entries.get(cls, MISS)
    if entry is MISS:
        entry = _entries[cls] = _compile(cls)
    return entry is not None


def decode(body: bytes, cls: Any) -> Any:
    """``body`` (JSON) as a ``cls`` through msgspec, or :data:`MISS`.

    A miss says nothing about the payload: the caller runs the reference path, which decides
    whether it is accepted and with which error. Never raises. A body longer than
    ``_json.STEPWISE_SIZE`` misses: the reference decodes it in steps that let other threads
    run (``_json``), where one msgspec call would hold the GIL for the whole document.
    """
    if not ENABLED or len(body) > STEPWISE_SIZE:
        return MISS
    entry = _entries.get(cls, MISS)
    if entry is MISS:
        entry = _entries[cls] = _compile(cls)
    if entry is None:
        return MISS
    return entry.read(body)


# --- stream events -----------------------------------------------------------------------------

#: The events ``_events.parse_event`` types from their ``data``: the event's ``sequence_number``
#: and its one payload field (``response`` or ``output``); their other fields (``recovered``)
#: are never read from the wire and keep their defaults. ``ERROR``, ``message`` frames (typed by
#: their ``event_type`` member) and unknown names are left to ``parse_event``.
_EVENTS: Final = (
    ResponseCreated,
    ResponseInProgress,
    ResponseOutputDelta,
    ResponseCompleted,
    ResponseFailed,
)


def _compile_event(cls: type[Any]) -> _Entry | None:
    if msgspec is None:
        return None
    gen = _Gen()
    attrs.resolve_types(cls)
    sequence, payload, *rest = attrs.fields(cls)
    if sequence.name != "sequence_number" or any(f.default is attrs.NOTHING for f in rest):
        return None  # pragma: no cover - the event models changed
    try:
        # ``event_type`` repeats the SSE name; parse_event does not read it, and only a
        # string or null is let through here (anything else takes parse_event's path).
        struct = _defstruct(
            f"{cls.__name__}Wire",
            [
                ("event_type", str | None, None),
                ("sequence_number", int | None, None),
                (payload.name, gen.wire(payload.type)),
            ],
        )
        body = ["    sequence_number = o.sequence_number", f"    value = o.{payload.name}"]
        body += gen.convert(payload.type, "value", "    ")
        values = {"sequence_number": "sequence_number", payload.name: "value"}
        values.update({f.name: gen.bind(f.default) for f in rest})
        body += gen.construct(cls, values, "o", "    ")
    except _Unsupported:  # pragma: no cover - the event models changed
        return None
    build = gen.builder(f"build_{cls.__name__}", body)
    return _Entry(msgspec.json.Decoder(struct).decode, build)


_event_entries: dict[str, _Entry | None] = {}


def event(name: str, data: str) -> Any:
    """The typed event of an SSE frame named ``name`` with ``data`` (its JSON text), through
    msgspec, or :data:`MISS` (then ``parse_event`` on the decoded data decides, as always).

    Never raises. ``data`` of a frame is at most the stream's ``max_event_size``; one longer
    than ``_json.STEPWISE_SIZE`` misses, as in :func:`decode`.
    """
    if not ENABLED or len(data) > STEPWISE_SIZE:
        return MISS
    entry = _event_entries.get(name, MISS)
    if entry is MISS:
        cls = next((c for c in _EVENTS if c.event_type == name), None)
        entry = _event_entries[name] = None if cls is None else _compile_event(cls)
    if entry is None:
        return MISS
    return entry.read(data)
