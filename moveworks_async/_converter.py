"""The one cattrs converter, configured in one place.

Rules (each one a hook registered in :func:`configure`):

1. Datetimes are ISO 8601 strings and become aware ``datetime`` objects (naive input is UTC);
   they unstructure back to ISO 8601 with a ``Z``.
2. ``tuple[X, ...]`` fields accept a list, ``null`` or absence (empty tuple).
3. ``str``, ``int`` and ``bool`` are checked, not coerced: ``{"text": {}}`` is an error, not
   ``"{}"``.
4. Enums keep unknown values (see ``_models._OpenEnum``).
5. Content, actions and output items are dispatched on ``type`` with a dict lookup; an unknown
   type becomes the matching ``Unknown...`` model carrying the raw mapping.
6. Unknown JSON keys are ignored everywhere.

Structuring runs with ``detailed_validation=False`` (cattrs skips collecting an error tree,
which makes structuring about a third faster; ``python -m benchmarks`` measures it). Only when
that fails is the payload structured again by a detailed twin converter, whose error tree gives
the field path for :class:`ResponseValidationError`; so the happy path pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from functools import reduce
from operator import or_
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    ClassValidationError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn

from . import _fastpath
from ._errors import ResponseValidationError
from ._models import (
    Action,
    ActorType,
    CallbackAction,
    Content,
    EventType,
    FileRef,
    Message,
    MessageOutput,
    ModalAction,
    ModalField,
    OutputItem,
    ReasoningMessage,
    ReasoningOutput,
    ResponseStatus,
    UnknownAction,
    UnknownContent,
    UnknownOutput,
    UrlAction,
)
from ._notification_models import NotificationStatus

__all__ = ["converter", "structure", "structure_fast", "unstructure"]

T = TypeVar("T")


def _structure_datetime(value: Any, _: Any) -> datetime:
    if type(value) is not str:
        raise TypeError(f"expected an ISO 8601 string, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _unstructure_datetime(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _structure_str(value: Any, _: Any) -> str:
    if type(value) is str:
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_int(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _structure_bool(value: Any, _: Any) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def _structure_enum(value: Any, cls: type[Enum]) -> Any:
    if type(value) is not str:
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return cls(value)


def _unstructure_enum(value: Enum) -> str:
    return str(value.value)


def _structure_raw(value: Any, _: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise TypeError(f"expected an object, got {type(value).__name__}")


def _is_var_tuple(tp: Any) -> bool:
    args = get_args(tp)
    return get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _payload(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """The nested object under ``key``; lenient because real history payloads omit it."""
    value = data.get(key)
    return value if type(value) is dict else _EMPTY


_EMPTY: Mapping[str, Any] = {}


def _type_of(data: Any) -> str:
    # ``type(...) is dict`` first: JSON decoders only make dicts, and the ABC check is slow.
    if type(data) is not dict and not isinstance(data, Mapping):
        raise TypeError(f"expected an object, got {type(data).__name__}")
    kind = data.get("type")
    return kind if type(kind) is str else ""


#: ``type`` of a text content -> the key of its body (``PLAIN_TEXT`` -> ``plain_text``).
_TEXT_KEYS: dict[str, str] = {kind: kind.lower() for kind in Content.TEXT_TYPES}

# The classes built on every streamed delta, made as attrs' __init__ would make them (a new
# instance, each slot set through its descriptor) when _fastpath.slot_setters says that is
# all it does; None means call the class. The fast converter builds them as twins instead
# where _fastpath.twin_of allows (see configure).
_new = object.__new__
_content_setters = _fastpath.slot_setters(Content)
if _content_setters is not None and len(_content_setters) != 4:  # pragma: no cover
    _content_setters = None


def _only_setter(cls: type[Any]) -> Callable[[Any, Any], None] | None:
    setters = _fastpath.slot_setters(cls)
    return setters[0] if setters is not None and len(setters) == 1 else None


_set_message_output = _only_setter(MessageOutput)
_set_reasoning_output = _only_setter(ReasoningOutput)


def _twin(cls: type[Any], names: tuple[str, ...], detailed: bool) -> type[Any] | None:
    """The twin of ``cls`` for the fast converter's hand-written hooks, or None (detailed
    converter, twins off, a self-check that failed, or fields other than ``names``: the
    hooks below store exactly those)."""
    if detailed or not _fastpath.TWINS:
        return None
    if tuple(f.name for f in attrs.fields(cls)) != names:  # pragma: no cover - models changed
        return None
    return _fastpath.twin_of(cls)


def _is_optional(tp: Any) -> bool:
    return get_origin(tp) in (Union, UnionType) and type(None) in get_args(tp)


def _without_none(tp: Any) -> Any:
    """``X`` for ``X | None``; ``A | B`` for ``A | B | None`` (``Action | None`` must reach the
    ``Action`` hook, not cattrs' union disambiguation)."""
    return reduce(or_, [arg for arg in get_args(tp) if arg is not type(None)])


def _all_optional(tp: Any) -> bool:
    return attrs.has(tp) and all(a.default is not attrs.NOTHING for a in attrs.fields(tp))


def _with_note(exc: Exception, note: str) -> Exception:
    exc.add_note(note)
    return exc


def configure(conv: cattrs.Converter, *, detailed: bool) -> cattrs.Converter:
    """Register every rule of this module on ``conv`` and return it.

    ``detailed`` makes the hand-written hooks annotate errors with the field path, as cattrs'
    own detailed hooks do; the fast converter skips that bookkeeping.
    """
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(datetime, _unstructure_datetime)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(bool, _structure_bool)
    for enum_cls in (ResponseStatus, ActorType, EventType, NotificationStatus):
        # Registered per class: these are str subclasses, so the str hook would match them.
        conv.register_structure_hook(enum_cls, _structure_enum)
        # cattrs passes str enums through unchanged; the wire shape is the plain string.
        conv.register_unstructure_hook(enum_cls, _unstructure_enum)
    conv.register_structure_hook_func(lambda tp: tp == Mapping[str, Any], _structure_raw)

    def tuple_hook(tp: Any) -> Callable[[Any, Any], tuple[Any, ...]]:
        item_type = get_args(tp)[0]
        item_hook = conv.get_structure_hook(item_type)

        def structure_tuple(value: Any, _: Any) -> tuple[Any, ...]:
            if value is None:
                return ()
            if type(value) is not list:
                raise TypeError(f"expected an array, got {type(value).__name__}")
            if not detailed:
                return tuple([item_hook(item, item_type) for item in value])
            items = []
            for index, item in enumerate(value):
                try:
                    items.append(item_hook(item, item_type))
                except Exception as exc:
                    # Only the first failure is reported (``.path``), so stop there: collecting
                    # every one cost seconds and hundreds of MB on a large page of bad items.
                    note = IterableValidationNote(f"@ index {index}", index, item_type)
                    raise IterableValidationError(
                        f"While structuring {tp}", [_with_note(exc, note)], tp
                    ) from None
            return tuple(items)

        return structure_tuple

    def optional_hook(tp: Any) -> Callable[[Any, Any], Any]:
        inner_type = _without_none(tp)
        inner_hook = conv.get_structure_hook(inner_type)

        # cattrs' generic Optional hook dispatches on every call; this one binds once.
        def structure_optional(value: Any, _: Any) -> Any:
            return None if value is None else inner_hook(value, inner_type)

        return structure_optional

    conv.register_structure_hook_factory(_is_var_tuple, tuple_hook)
    conv.register_structure_hook_factory(_is_optional, optional_hook)

    def object_hook(cls: type[Any]) -> Callable[[Any, Any], Any]:
        inner = make_dict_structure_fn(cls, conv)

        # cattrs' generated code tests ``"field" in value``: for a class whose fields all have
        # defaults, a string or a list would silently become an all-default instance.
        def structure_object(value: Any, _: Any) -> Any:
            if type(value) is not dict and not isinstance(value, Mapping):
                raise TypeError(f"expected an object, got {type(value).__name__}")
            return inner(value, cls)

        return structure_object

    conv.register_structure_hook_factory(_all_optional, object_hook)
    if not detailed:
        # Registered last, so it wins: one generated function per class, primitive rules
        # inlined (the detailed twin keeps cattrs' own code for its error trees).
        _fastpath.register(
            conv,
            structure_datetime=_structure_datetime,
            structure_enum=_structure_enum,
            structure_primitive={str: _structure_str, int: _structure_int, bool: _structure_bool},
        )

    def nested(hook: Any, value: Any, cls: type[Any], outer: type[Any], attr: str) -> Any:
        if not detailed:
            return hook(value, cls)
        try:
            return hook(value, cls)
        except Exception as exc:
            note = AttributeValidationNote(f"@ attribute {attr}", attr, cls)
            raise ClassValidationError(
                f"While structuring {outer.__name__}", [_with_note(exc, note)], outer
            ) from None

    files_hook = conv.get_structure_hook(tuple[FileRef, ...])
    content_twin = _twin(Content, ("type", "text", "callback_id", "files"), detailed)
    callback_twin = _twin(CallbackAction, ("label", "callback_id"), detailed)
    url_twin = _twin(UrlAction, ("label", "url"), detailed)
    modal_twin = _twin(ModalAction, ("label", "modal_id"), detailed)
    message_output_twin = _twin(MessageOutput, ("message",), detailed)
    reasoning_output_twin = _twin(ReasoningOutput, ("reasoning_message",), detailed)

    def structure_content(data: Any, _: Any) -> Content:
        kind = data.get("type") if type(data) is dict else _type_of(data)
        if type(kind) is not str:
            kind = ""
        key = _TEXT_KEYS.get(kind)
        if key is not None:
            body = data.get(key)
            if type(body) is not dict:
                body = _EMPTY
            text = body.get("text", "")
            if type(text) is not str:
                text = nested(_structure_str, text, str, Content, key + ".text")
            files = body.get("files")
            if files:
                attr = key + ".files"
                files = nested(files_hook, files, tuple[FileRef, ...], Content, attr)
            else:
                files = ()
            if content_twin is not None:
                # Twin construction (_fastpath.twin_of): plain stores, then the class.
                built = content_twin()
                built.type = kind
                built.text = text
                built.callback_id = None
                built.files = files
                built.__class__ = Content
                return built  # type: ignore[no-any-return]
            if _content_setters is None:
                return Content(kind, text, None, files)
            content: Content = _new(Content)
            set_type, set_text, set_callback_id, set_files = _content_setters
            set_type(content, kind)
            set_text(content, text)
            set_callback_id(content, None)
            set_files(content, files)
            return content
        if kind == "CALLBACK_ACTION_CONTENT":
            callback_id = _payload(data, "callback_action").get("callback_id")
            return Content(kind, "", callback_id if type(callback_id) is str else None)
        return UnknownContent(kind, raw=data)

    def unstructure_content(content: Content) -> dict[str, Any]:
        if type(content) is UnknownContent:
            return dict(content.raw)
        if content.type == "CALLBACK_ACTION_CONTENT":
            return {"type": content.type, "callback_action": {"callback_id": content.callback_id}}
        body: dict[str, Any] = {"text": content.text}
        if content.files:
            body["files"] = conv.unstructure(content.files)
        return {"type": content.type, content.type.lower(): body}

    conv.register_structure_hook(Content, structure_content)
    conv.register_unstructure_hook(Content, unstructure_content)
    conv.register_unstructure_hook(UnknownContent, unstructure_content)

    def structure_action(data: Any, _: Any) -> Action:
        kind = data.get("type") if type(data) is dict else _type_of(data)
        if type(kind) is not str:
            kind = ""
        label = data.get("label")
        # Twin construction (_fastpath.twin_of) where available: plain stores, then the class.
        if kind == "CALLBACK_ACTION":
            callback_id = _payload(data, "callback_action").get("callback_id")
            if type(label) is not str or type(callback_id) is not str or callback_twin is None:
                return CallbackAction(_structure_str(label, str), _structure_str(callback_id, str))
            built = callback_twin()
            built.label = label
            built.callback_id = callback_id
            built.__class__ = CallbackAction
            return built  # type: ignore[no-any-return]
        if kind == "URL_ACTION":
            url = _payload(data, "url_action").get("url")
            if type(label) is not str or type(url) is not str or url_twin is None:
                return UrlAction(_structure_str(label, str), _structure_str(url, str))
            built = url_twin()
            built.label = label
            built.url = url
            built.__class__ = UrlAction
            return built  # type: ignore[no-any-return]
        if kind == "MODAL_ACTION":
            modal_id = _payload(data, "modal_action").get("modal_id")
            if type(label) is not str or type(modal_id) is not str or modal_twin is None:
                return ModalAction(_structure_str(label, str), _structure_str(modal_id, str))
            built = modal_twin()
            built.label = label
            built.modal_id = modal_id
            built.__class__ = ModalAction
            return built  # type: ignore[no-any-return]
        return UnknownAction(kind, label if type(label) is str else None, raw=data)

    def unstructure_action(action: Action) -> dict[str, Any]:
        if type(action) is CallbackAction:
            payload: dict[str, Any] = {"callback_id": action.callback_id}
            return {"type": action.type, "label": action.label, "callback_action": payload}
        if type(action) is UrlAction:
            payload = {"url": action.url}
            return {"type": action.type, "label": action.label, "url_action": payload}
        if type(action) is ModalAction:
            payload = {"modal_id": action.modal_id}
            return {"type": action.type, "label": action.label, "modal_action": payload}
        assert type(action) is UnknownAction
        return dict(action.raw)

    conv.register_structure_hook_func(lambda tp: tp == Action, structure_action)
    for cls in (CallbackAction, UrlAction, ModalAction, UnknownAction):
        conv.register_unstructure_hook(cls, unstructure_action)

    message_hook = conv.get_structure_hook(Message)
    reasoning_hook = conv.get_structure_hook(ReasoningMessage)

    def structure_output(data: Any, _: Any) -> OutputItem:
        kind = data.get("type") if type(data) is dict else _type_of(data)
        if type(kind) is not str:
            kind = ""
        if kind == "MESSAGE":
            value = data.get("message")
            if not detailed:
                message = message_hook(value, Message)
                if message_output_twin is not None:
                    twin: Any = message_output_twin()
                    twin.message = message
                    twin.__class__ = MessageOutput
                    return twin  # type: ignore[no-any-return]
                if _set_message_output is None:
                    return MessageOutput(message)
                item: OutputItem = _new(MessageOutput)
                _set_message_output(item, message)
                return item
            return MessageOutput(nested(message_hook, value, Message, MessageOutput, "message"))
        if kind == "REASONING_MESSAGE":
            value = data.get("reasoning_message")
            if not detailed:
                reasoning = reasoning_hook(value, ReasoningMessage)
                if reasoning_output_twin is not None:
                    twin = reasoning_output_twin()
                    twin.reasoning_message = reasoning
                    twin.__class__ = ReasoningOutput
                    return twin  # type: ignore[no-any-return]
                if _set_reasoning_output is None:
                    return ReasoningOutput(reasoning)
                item = _new(ReasoningOutput)
                _set_reasoning_output(item, reasoning)
                return item
            reasoning = nested(
                reasoning_hook, value, ReasoningMessage, ReasoningOutput, "reasoning_message"
            )
            return ReasoningOutput(reasoning)
        return UnknownOutput(kind, raw=data)

    def unstructure_output(item: OutputItem) -> dict[str, Any]:
        if type(item) is MessageOutput:
            return {"type": item.type, "message": conv.unstructure(item.message)}
        if type(item) is ReasoningOutput:
            return {
                "type": item.type,
                "reasoning_message": conv.unstructure(item.reasoning_message),
            }
        assert type(item) is UnknownOutput
        return dict(item.raw)

    conv.register_structure_hook_func(lambda tp: tp == OutputItem, structure_output)
    for output_cls in (MessageOutput, ReasoningOutput, UnknownOutput):
        conv.register_unstructure_hook(output_cls, unstructure_output)

    field_hook = conv.get_structure_hook(ModalField)

    def structure_modal_field(data: Any, _: Any) -> ModalField:
        parsed = field_hook(data, ModalField)
        return ModalField(
            parsed.name,
            parsed.type,
            parsed.visible,
            parsed.required,
            parsed.read_only,
            parsed.triggers_refresh,
            parsed.options,
            raw=data,
        )

    def unstructure_modal_field(value: ModalField) -> dict[str, Any]:
        return dict(value.raw)

    # The generated hook above already exists, so re-registering ModalField is safe.
    conv.register_structure_hook(ModalField, structure_modal_field)
    conv.register_unstructure_hook(ModalField, unstructure_modal_field)
    return conv


def _make(detailed: bool) -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=detailed, forbid_extra_keys=False)
    return configure(conv, detailed=detailed)


converter = _make(detailed=False)
_detailed = _make(detailed=True)


def _first_path(exc: BaseException) -> tuple[str, str]:
    """The ``$.a.b[0]`` path and message of the first leaf error in a cattrs error tree."""
    messages = cattrs.transform_error(exc, path="$")
    if messages:
        message, _, path = messages[0].partition(" @ ")
        return message, path or "$"
    return str(exc), "$"


#: The fast converter's hook per target type, looked up once (cattrs' dispatch costs more
#: than the structuring of a small model). Only the package's own model types are keys.
_fast_hooks: dict[Any, Callable[[Any, Any], Any]] = {}


def structure_fast(data: Any, cls: type[T]) -> T:
    """Convert decoded JSON into ``cls`` through the fast converter, or raise *any* exception.

    The hot path of replies and events: the caller falls back to :func:`structure` (which
    re-runs the payload for a ``ResponseValidationError`` with a path) only when this raises.
    """
    hook = _fast_hooks.get(cls)
    if hook is None:
        hook = _fast_hooks[cls] = converter.get_structure_hook(cls)
    return hook(data, cls)  # type: ignore[no-any-return]


def _type_name(cls: Any) -> str:
    """A readable name of a target type, a union (``OutputItem``) included."""
    name = getattr(cls, "__name__", None)
    return name if isinstance(name, str) else str(cls).replace("moveworks_async._models.", "")


def _first_item_error(data: list[Any], cls: Any) -> IterableValidationError | None:
    """The detailed error tree of the first item of ``data`` the fast converter rejects, or None.

    The tree is the one the detailed converter's tuple hook raises for the whole list, but the
    detailed (slower) converter reads only that one item: on a page of 60,000 messages the
    error path then costs about what the happy path costs. None when every item passes the
    fast converter or the detailed one accepts the rejected item (a disagreement: the caller
    lets the detailed converter judge the whole list).
    """
    item_type = get_args(cls)[0]
    for index, item in enumerate(data):
        try:
            structure_fast(item, item_type)
        except Exception:
            pass
        else:
            continue
        try:
            _detailed.structure(item, item_type)
        except Exception as exc:
            note = IterableValidationNote(f"@ index {index}", index, item_type)
            return IterableValidationError(f"While structuring {cls}", [_with_note(exc, note)], cls)
        return None
    return None


def structure(data: Any, cls: type[T], *, request_id: str | None = None) -> T:
    """Convert decoded JSON into ``cls``.

    Raises:
        ResponseValidationError: the payload does not have the documented shape; ``.path``
            names the first offending field.
    """
    try:
        return structure_fast(data, cls)
    except Exception:
        pass
    if attrs.has(cls) and not isinstance(data, Mapping):
        # cattrs would blame the first attribute (``$.conversation_id``) for a list or a string.
        raise ResponseValidationError(
            f"cannot read {_type_name(cls)}: expected an object, got {type(data).__name__}",
            path="$",
            request_id=request_id,
        )
    tree = _first_item_error(data, cls) if _is_var_tuple(cls) and type(data) is list else None
    if tree is not None:
        message, path = _first_path(tree)
    else:
        try:
            # Should the generated fast path ever disagree with cattrs, a valid payload is
            # still accepted: the detailed converter is the reference, the fast one only an
            # optimization.
            return _detailed.structure(data, cls)
        except BaseValidationError as exc:
            message, path = _first_path(exc)
        except Exception as exc:  # a hook outside cattrs' error tree
            message, path = f"{type(exc).__name__}: {exc}", "$"
    raise ResponseValidationError(
        f"cannot read {_type_name(cls)}: {message}", path=path, request_id=request_id
    ) from None


def unstructure(value: Any) -> Any:
    """Convert a model back into JSON-ready data in the wire shape."""
    return converter.unstructure(value)
