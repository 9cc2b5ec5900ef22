"""Structure functions generated once per attrs class for the fast (non-detailed) converter.

cattrs' own generated code calls one hook per field (``hook(o["x"], type)``), collects the
values in a dict and calls the class with ``**kwargs``. For the API models most fields are
``str``, ``X | None``, ``tuple[X, ...]``, datetimes and enums, whose rules (see
``_converter``) are one type test each, so here they are inlined into one function per class
that reads the keys, checks and converts the values in place and calls the class with
positional arguments. Fields of any other type (the ``type``-dispatched unions, ``Mapping``,
nested classes) still go through the converter's hook for that type, bound once.

The rules are exactly the converter's: a wrong type raises ``TypeError``, a missing required
key ``KeyError``, a missing optional key gives the attribute's default, unknown keys are
ignored. Errors raised here carry no path: ``_converter.structure`` re-runs a failing payload
through the detailed twin converter for that.
"""

from __future__ import annotations

import itertools
import linecache
from collections.abc import Callable, Mapping
from enum import Enum
from types import MemberDescriptorType, UnionType
from typing import Any, Union, get_args, get_origin

import attrs
import cattrs

__all__ = ["register", "slot_setters", "twin_of", "TWINS"]

#: Twin construction (see :func:`twin_of`). Off by default: on CPython 3.11 a paired
#: measurement (benchmarks payloads, 200 Responses x 20, best of 15) gave the twin build
#: 1.38x the time of the slot setters, the class assignment costing more than the per-field
#: descriptor calls it saves. Correctness is tested both ways (tests/test_fastpath.py).
TWINS = False

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


class _Gen:
    def __init__(
        self,
        conv: cattrs.Converter,
        structure_datetime: Callable[[Any, Any], Any],
        structure_enum: Callable[[Any, Any], Any],
        primitives: dict[type, Callable[[Any, Any], Any]],
    ) -> None:
        self.conv = conv
        self.structure_datetime = structure_datetime
        self.structure_enum = structure_enum
        self.primitives = primitives
        self.ns: dict[str, Any] = {"_fail": _fail}
        self.names = itertools.count()

    def bind(self, value: Any) -> str:
        name = f"_g{next(self.names)}"
        self.ns[name] = value
        return name

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
            if kind is not None:
                what = self.bind(_PRIMITIVES[kind])
                typ = self.bind(kind)
                return [
                    *lines,
                    f"{indent}    for _i in {var}:",
                    f"{indent}        if type(_i) is not {typ}:",
                    f"{indent}            _fail({what}, _i)",
                    f"{indent}    {var} = tuple({var})",
                ]
            item_hook = self.bind(conv.get_structure_hook(item))
            typ = self.bind(item)
            return [*lines, f"{indent}    {var} = tuple([{item_hook}(_i, {typ}) for _i in {var}])"]
        kind = self.primitive_of(tp)
        if kind is not None:
            return [
                f"{indent}if type({var}) is not {self.bind(kind)}:",
                f"{indent}    _fail({self.bind(_PRIMITIVES[kind])}, {var})",
            ]
        hook = conv.get_structure_hook(tp)
        if hook is self.structure_datetime:
            return [f"{indent}{var} = {self.bind(hook)}({var}, None)"]
        if hook is self.structure_enum and isinstance(tp, type) and issubclass(tp, Enum):
            members = self.bind(tp._value2member_map_)
            enum = self.bind(tp)
            return [
                f"{indent}if type({var}) is not str:",
                f"{indent}    _fail('a string', {var})",
                f"{indent}_m = {members}.get({var})",
                f"{indent}{var} = _m if _m is not None else {enum}({var})",
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
        {"__slots__": (), "__setattr__": object.__setattr__, "__module__": cls.__module__},
    )
    markers = [object() for _ in names]
    try:
        probe: Any = object.__new__(twin)
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
    lines = [
        f"def {name}(o, _=None):",
        f"    if type(o) is not dict and not isinstance(o, {gen.bind(Mapping)}):",
        "        _fail('an object', o)",
    ]
    positional: list[str] = []
    keywords: list[str] = []
    for index, field in enumerate(attrs.fields(cls)):
        if not field.init:
            continue
        var = f"v{index}"
        key = repr(field.name)
        if field.default is attrs.NOTHING:
            lines.append(f"    {var} = o[{key}]")
            lines += gen.convert(field.type, var, "    ")
        else:
            default = field.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                if default.takes_self:
                    return cattrs.gen.make_dict_structure_fn(cls, conv)  # not used by the models
                fallback = f"{gen.bind(default.factory)}()"
            else:
                fallback = gen.bind(default)
            lines.append(f"    if {key} in o:")
            lines.append(f"        {var} = o[{key}]")
            lines += gen.convert(field.type, var, "        ")
            lines.append("    else:")
            lines.append(f"        {var} = {fallback}")
        if field.kw_only:
            keywords.append(f"{field.alias}={var}")
        else:
            positional.append(var)
    setters = slot_setters(cls)
    twin = twin_of(cls) if TWINS and setters is not None else None
    if twin is not None:
        # Twin construction (see twin_of): plain stores into the twin, then its class.
        lines.append(f"    _o = {gen.bind(object.__new__)}({gen.bind(twin)})")
        for index, field in enumerate(attrs.fields(cls)):
            lines.append(f"    _o.{field.name} = v{index}")
        lines.append(f"    _o.__class__ = {gen.bind(cls)}")
        lines.append("    return _o")
    elif setters is None:
        lines.append(f"    return {gen.bind(cls)}({', '.join(positional + keywords)})")
    else:
        # What attrs' __init__ does for this class, minus its per-call setattr lookup: a new
        # instance, then each slot set through its descriptor (see slot_setters).
        lines.append(f"    _o = {gen.bind(object.__new__)}({gen.bind(cls)})")
        for index, setter in enumerate(setters):
            lines.append(f"    {gen.bind(setter)}(_o, v{index})")
        lines.append("    return _o")
    source = "\n".join(lines) + "\n"
    filename = f"<moveworks_async generated {name} {next(_counter)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), gen.ns)
    fn: Callable[[Any, Any], Any] = gen.ns[name]
    return fn
