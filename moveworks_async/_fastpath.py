"""Structure functions generated once per top-level attrs class for the fast converter.

cattrs' own generated code calls one hook per field (``hook(o["x"], type)``), collects the
values in a dict and calls the class with ``**kwargs``. For the API models most fields are
``str``, ``X | None``, ``tuple[X, ...]``, datetimes and enums, whose rules (see
``_converter``) are one type test each, so here they are inlined into one function per class
that reads the keys and checks and converts the values in place. Nested attrs classes whose
hook is this module's code are inlined too (a ``tuple[X, ...]`` of them becomes a loop), so a
model is one function down to the hand-written hooks (``type``-dispatched unions,
``Mapping``), which are still called, bound once.

Objects are built without attrs' ``__init__`` where :func:`slot_setters` shows it only stores
its arguments: as a twin (:func:`twin_of`: plain stores into a slot-compatible subclass, then
``__class__`` assigned) or, where the twin's self-check fails or :data:`TWINS` is off,
through the slot descriptors.

The rules are exactly the converter's: a wrong type raises ``TypeError``, a missing required
key ``KeyError``, a missing optional key gives the attribute's default, unknown keys are
ignored. Errors raised here carry no path: ``_converter.structure`` re-runs a failing payload
through the detailed twin converter for that.
"""

from __future__ import annotations

import itertools
import linecache
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from types import MemberDescriptorType, UnionType
from typing import Any, Union, get_args, get_origin

import attrs
import cattrs

__all__ = ["CodeGen", "register", "slot_setters", "twin_of", "TWINS"]

#: Twin construction (see :func:`twin_of`). It first measured 1.38x the time of the slot
#: setters: the twin overrode ``__setattr__`` but not ``__delattr__``, and attrs' frozen
#: classes define both, so CPython kept the Python-level attribute-store slot and every
#: "plain" store dispatched through ``__setattr__``. With both overridden the stores are the
#: interpreter's specialised slot stores: 0.71x the instructions of the slot-setter build of
#: a Response (callgrind; benchmarks/README.md). Correctness is tested both ways
#: (tests/test_fastpath.py).
TWINS = True

_PRIMITIVES: dict[type, str] = {str: "a string", int: "an integer", bool: "a boolean"}
_counter = itertools.count()


def _fail(what: str, value: object) -> None:
    raise TypeError(f"expected {what}, got {type(value).__name__}")


def _is_attrs_class(tp: Any) -> bool:
    return isinstance(tp, type) and attrs.has(tp)


def register(
    conv: cattrs.Converter,
    *,
    structure_datetime: Callable[[Any, Any], Any],
    structure_enum: Callable[[Any, Any], Any],
    structure_primitive: Mapping[type, Callable[[Any, Any], Any]],
) -> None:
    """Make ``conv`` structure every attrs class (without a hook of its own) through
    generated code.

    The hook functions are the converter's own rules: a field whose type resolves to one of
    them (by identity) is inlined, anything else calls ``conv.get_structure_hook(type)``.
    """

    def factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
        return _generate(conv, cls, structure_datetime, structure_enum, dict(structure_primitive))

    conv.register_structure_hook_factory(_is_attrs_class, factory)


class CodeGen:
    """What generated code needs, shared with ``_wire``: values bound into the namespace of the
    code under fresh names, fresh local names, and the compilation of one function (its
    source kept in ``linecache`` for tracebacks and ``inspect``)."""

    def __init__(self, ns: dict[str, Any] | None = None) -> None:
        self.ns: dict[str, Any] = {} if ns is None else ns
        self.names = itertools.count()
        self.locals = itertools.count()

    def bind(self, value: Any) -> str:
        name = f"_g{next(self.names)}"
        self.ns[name] = value
        return name

    def local(self, stem: str) -> str:
        return f"{stem}{next(self.locals)}"

    def function(self, name: str, params: str, body: list[str], label: str) -> Any:
        """``def name(params):`` with ``body``, returning ``o``, compiled in the namespace.
        ``label`` names the generator in the code's file name."""
        source = "\n".join([f"def {name}({params}):", *body, "    return o"]) + "\n"
        filename = f"<moveworks_async {label} {name} {next(_counter)}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), self.ns)
        return self.ns[name]


class _Gen(CodeGen):
    def __init__(
        self,
        conv: cattrs.Converter,
        structure_datetime: Callable[[Any, Any], Any],
        structure_enum: Callable[[Any, Any], Any],
        primitives: dict[type, Callable[[Any, Any], Any]],
    ) -> None:
        super().__init__({"_fail": _fail})
        self.conv = conv
        self.structure_datetime = structure_datetime
        self.structure_enum = structure_enum
        self.primitives = primitives
        #: The classes being inlined, outermost first (a recursive model calls its hook).
        self.stack: list[type[Any]] = []

    def inlinable(self, tp: Any) -> bool:
        """True for an attrs class whose hook is this generator's code for this converter
        (not a hand-written hook such as ``Content``'s) and not already being inlined."""
        if not _is_attrs_class(tp) or tp in self.stack:
            return False
        hook = self.conv.get_structure_hook(tp)
        return getattr(hook, "_moveworks_generated", None) is self.conv

    def convert(self, tp: Any, var: str, indent: str) -> list[str]:
        """Lines that check ``var`` against ``tp`` and replace it by the structured value."""
        conv = self.conv
        origin, args = get_origin(tp), get_args(tp)
        if origin in (Union, UnionType) and type(None) in args:
            rest = [a for a in args if a is not type(None)]
            if len(rest) > 1:
                # The converter's Optional rule hands ``A | B`` to the hook of the union.
                body = self.call_hook(_union(rest), var, indent + "    ")
            else:
                body = self.convert(rest[0], var, indent + "    ")
            return [f"{indent}if {var} is not None:", *body]
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            item = args[0]
            lines = [
                f"{indent}if {var} is None:",
                f"{indent}    {var} = ()",
                f"{indent}elif type({var}) is not list:",
                f"{indent}    _fail('an array', {var})",
                f"{indent}else:",
            ]
            kind = self.primitive_of(item)
            each = self.local("_i")
            if kind is not None:
                what = self.bind(_PRIMITIVES[kind])
                typ = self.bind(kind)
                return [
                    *lines,
                    f"{indent}    for {each} in {var}:",
                    f"{indent}        if type({each}) is not {typ}:",
                    f"{indent}            _fail({what}, {each})",
                    f"{indent}    {var} = tuple({var})",
                ]
            if self.inlinable(item):
                # The item's code inlined into a loop: no call per item.
                items = self.local("_l")
                return [
                    *lines,
                    f"{indent}    {items} = []",
                    f"{indent}    for {each} in {var}:",
                    *self.build(item, each, indent + "        "),
                    f"{indent}        {items}.append({each})",
                    f"{indent}    {var} = tuple({items})",
                ]
            item_hook = self.bind(conv.get_structure_hook(item))
            typ = self.bind(item)
            return [
                *lines,
                f"{indent}    {var} = tuple([{item_hook}({each}, {typ}) for {each} in {var}])",
            ]
        kind = self.primitive_of(tp)
        if kind is not None:
            return [
                f"{indent}if type({var}) is not {self.bind(kind)}:",
                f"{indent}    _fail({self.bind(_PRIMITIVES[kind])}, {var})",
            ]
        if self.inlinable(tp):
            return self.build(tp, var, indent)
        hook = conv.get_structure_hook(tp)
        if hook is self.structure_datetime:
            # The converter's datetime rule (``_converter._structure_datetime``), inlined:
            # an ISO 8601 string; naive means UTC.
            return [
                f"{indent}if type({var}) is not str:",
                f"{indent}    _fail('an ISO 8601 string', {var})",
                f"{indent}{var} = {self.bind(datetime.fromisoformat)}({var})",
                f"{indent}if {var}.tzinfo is None:",
                f"{indent}    {var} = {var}.replace(tzinfo={self.bind(UTC)})",
            ]
        if hook is self.structure_enum and isinstance(tp, type) and issubclass(tp, Enum):
            members = self.bind(tp._value2member_map_)
            enum = self.bind(tp)
            member = self.local("_m")
            return [
                f"{indent}if type({var}) is not str:",
                f"{indent}    _fail('a string', {var})",
                f"{indent}{member} = {members}.get({var})",
                f"{indent}{var} = {member} if {member} is not None else {enum}({var})",
            ]
        return self.call_hook(tp, var, indent)

    def call_hook(self, tp: Any, var: str, indent: str) -> list[str]:
        hook = self.bind(self.conv.get_structure_hook(tp))
        return [f"{indent}{var} = {hook}({var}, {self.bind(tp)})"]

    def primitive_of(self, tp: Any) -> type | None:
        """``str``/``int``/``bool`` when the converter's hook for ``tp`` is the strict check."""
        if tp in _PRIMITIVES and self.conv.get_structure_hook(tp) is self.primitives.get(tp):
            return tp  # type: ignore[no-any-return]
        return None

    def build(self, cls: type[Any], var: str, indent: str) -> list[str]:
        """Lines that read the mapping in ``var`` into an instance of ``cls`` in ``var``:
        the rules of the converter for every field, then the construction."""
        self.stack.append(cls)
        try:
            return self._build(cls, var, indent)
        finally:
            self.stack.pop()

    def _build(self, cls: type[Any], var: str, indent: str) -> list[str]:
        lines = [
            f"{indent}if type({var}) is not dict and not isinstance({var}, {self.bind(Mapping)}):",
            f"{indent}    _fail('an object', {var})",
        ]
        fields = attrs.fields(cls)
        values: list[str] = []
        positional: list[str] = []
        keywords: list[str] = []
        for field in fields:
            value = self.local("v")
            values.append(value)
            if not field.init:
                continue
            key = repr(field.name)
            if field.default is attrs.NOTHING:
                lines.append(f"{indent}{value} = {var}[{key}]")
                lines += self.convert(field.type, value, indent)
            else:
                default = field.default
                if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                    if default.takes_self:  # not used by the models
                        raise _Unsupported(cls)
                    fallback = f"{self.bind(default.factory)}()"
                else:
                    fallback = self.bind(default)
                lines.append(f"{indent}if {key} in {var}:")
                lines.append(f"{indent}    {value} = {var}[{key}]")
                lines += self.convert(field.type, value, indent + "    ")
                lines.append(f"{indent}else:")
                lines.append(f"{indent}    {value} = {fallback}")
            if field.kw_only:
                keywords.append(f"{field.alias}={value}")
            else:
                positional.append(value)
        setters = slot_setters(cls)
        twin = twin_of(cls) if TWINS and setters is not None else None
        if twin is not None:
            # Twin construction (see twin_of): plain stores into the twin, then its class.
            lines.append(f"{indent}{var} = {self.bind(twin)}()")
            for field, value in zip(fields, values, strict=True):
                lines.append(f"{indent}{var}.{field.name} = {value}")
            lines.append(f"{indent}{var}.__class__ = {self.bind(cls)}")
        elif setters is None:
            lines.append(f"{indent}{var} = {self.bind(cls)}({', '.join(positional + keywords)})")
        else:
            # What attrs' __init__ does for this class, minus its per-call setattr lookup: a
            # new instance, then each slot set through its descriptor (see slot_setters).
            lines.append(f"{indent}{var} = {self.bind(object.__new__)}({self.bind(cls)})")
            for setter, value in zip(setters, values, strict=True):
                lines.append(f"{indent}{self.bind(setter)}({var}, {value})")
        return lines


class _Unsupported(Exception):
    """A class the generator does not handle; cattrs' own generated code is used."""


def _union(members: list[Any]) -> Any:
    result = members[0]
    for member in members[1:]:
        result = result | member
    return result


def slot_setters(cls: type[Any]) -> list[Callable[[Any, Any], None]] | None:
    """The slot descriptors' ``__set__`` of every field, when that is all ``__init__`` does.

    True for a slotted attrs class whose ``__init__`` is attrs' own and whose fields are all
    init arguments without validator or converter, with no pre/post-init hook and no cached
    hash: its ``__init__`` then only assigns each argument to its slot (through
    ``object.__setattr__``, as the class is frozen). Anything else returns None and the
    generated code calls the class.
    """
    init = getattr(cls.__init__, "__code__", None)
    if (
        "__slots__" not in cls.__dict__
        or init is None
        or not init.co_filename.startswith("<attrs generated")
        or hasattr(cls, "__attrs_pre_init__")
        or hasattr(cls, "__attrs_post_init__")
        or any("_attrs_cached_hash" in getattr(k, "__slots__", ()) for k in cls.__mro__)
    ):
        return None
    setters = []
    for field in attrs.fields(cls):
        if not field.init or field.validator is not None or field.converter is not None:
            return None
        descriptor = next(
            (k.__dict__[field.name] for k in cls.__mro__ if field.name in k.__dict__), None
        )
        if type(descriptor) is not MemberDescriptorType:
            return None
        setters.append(descriptor.__set__)
    return setters


def twin_of(cls: type[Any]) -> type[Any] | None:
    """A subclass of ``cls`` that adds no slot and stores attributes plainly, or None.

    Twin construction: the generated code fills an instance of the twin with plain
    attribute stores (the interpreter's specialised slot store, not attrs' frozen
    ``__setattr__``) and then assigns ``o.__class__ = cls``, which gives the object attrs'
    ``__init__`` would build for one class assignment instead of one descriptor call per
    field. Only for classes :func:`slot_setters` accepts (``__init__`` only stores its
    arguments). A start-up self-check builds one instance that way and compares it field by
    field; where CPython refuses the class assignment or anything differs, None, and the
    caller uses the slot setters.
    """
    if slot_setters(cls) is None:
        return None
    names = [f.name for f in attrs.fields(cls)]
    twin = type(
        f"_{cls.__name__}Twin",
        (cls,),
        {
            "__slots__": (),
            # Both: attrs' frozen class defines __setattr__ *and* __delattr__, and CPython
            # keeps the slow Python-level attribute-store slot while either is overridden.
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            # ``twin()`` is then object_new + object_init, cheaper than object.__new__(twin)
            # (whose wrapper checks the arguments and walks the bases on every call).
            "__init__": object.__init__,
            "__module__": cls.__module__,
        },
    )
    markers = [object() for _ in names]
    try:
        probe: Any = twin()
        for name, marker in zip(names, markers, strict=True):
            probe.__setattr__(name, marker)
        probe.__class__ = cls
    except (TypeError, AttributeError):
        return None
    if type(probe) is not cls or any(
        getattr(probe, n) is not m for n, m in zip(names, markers, strict=True)
    ):
        return None  # pragma: no cover - a layout CPython accepted but mapped differently
    return twin


def _generate(
    conv: cattrs.Converter,
    cls: type[Any],
    structure_datetime: Callable[[Any, Any], Any],
    structure_enum: Callable[[Any, Any], Any],
    primitives: dict[type, Callable[[Any, Any], Any]],
) -> Callable[[Any, Any], Any]:
    attrs.resolve_types(cls)
    gen = _Gen(conv, structure_datetime, structure_enum, primitives)
    name = f"structure_{cls.__name__}"
    try:
        body = gen.build(cls, "o", "    ")
    except _Unsupported:
        return cattrs.gen.make_dict_structure_fn(cls, conv)
    fn: Callable[[Any, Any], Any] = gen.function(name, "o, _=None", body, "generated")
    # Marks the function as inlinable into the code generated for its container classes.
    fn._moveworks_generated = conv  # type: ignore[attr-defined]
    return fn
