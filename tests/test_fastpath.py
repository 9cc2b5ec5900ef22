"""The generated structure functions (``_fastpath``) agree with cattrs' own hooks.

The fast converter structures attrs classes through code generated once per class; the
reference here is the same configuration without that registration (cattrs' generated code
calling one hook per field). Both must accept and reject the same payloads and build equal
models, over a realistic payload and thousands of random mutations of it.
"""

from __future__ import annotations

import copy
import inspect
import random
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from moveworks_async import _converter, _fastpath
from moveworks_async._models import (
    Conversation,
    Event,
    Message,
    Modal,
    ReasoningMessage,
    Response,
)


def _plain(text: str) -> dict[str, Any]:
    return {"type": "PLAIN_TEXT", "plain_text": {"text": text}}


MESSAGE: dict[str, Any] = {
    "message_id": "msg_1",
    "conversation_id": "conv_1",
    "response_id": "resp_1",
    "actor": "ASSISTANT",
    "content": {"type": "COMMONMARK_TEXT", "commonmark_text": {"text": "See the handbook."}},
    "created_at": "2026-11-26T10:00:03.000001Z",
    "citations": [
        {
            "citation_id": "cit_1",
            "url": "https://help.example.com/kb/1",
            "display": {
                "title": _plain("Handbook"),
                "body": _plain("VPN access"),
                "attributes": [{"key": "UPDATE_DATETIME", "value": "2026-01-01"}],
            },
            "location": {"offset": 4},
        }
    ],
    "content_references": [{"citation_id": "cit_1", "offset": 8}],
    "feedback": {"helpful": {"callback_id": "up"}, "unhelpful": {"callback_id": "down"}},
    "actions": [
        {"type": "CALLBACK_ACTION", "label": "Yes", "callback_action": {"callback_id": "cb"}},
        {"type": "URL_ACTION", "label": "Open", "url_action": {"url": "https://x.example"}},
        {"type": "FUTURE_ACTION", "label": "?"},
    ],
    "sender_info": {"display_name": "Ada", "avatar_url": None},
    "handoff": {
        "handoff_categories": [
            {
                "category_id": "c1",
                "name": "IT",
                "handoff_items": [
                    {
                        "title": "Call",
                        "type": "ACTION",
                        "action": {
                            "type": "URL_ACTION",
                            "label": "Call",
                            "url_action": {"url": "tel:1"},
                        },
                    },
                    {"title": "Note", "type": "TEXT", "text": _plain("Open 9-5")},
                ],
            }
        ]
    },
}

RESPONSE: dict[str, Any] = {
    "response_id": "resp_1",
    "conversation_id": "conv_1",
    "status": "COMPLETED",
    "created_at": "2026-11-26T10:00:00Z",
    "completed_at": "2026-11-26T10:00:05+02:00",
    "updated_at": None,
    "outputs": [
        {
            "type": "REASONING_MESSAGE",
            "reasoning_message": {
                "reasoning_message_id": "rm_1",
                "conversation_id": "conv_1",
                "response_id": "resp_1",
                "content": _plain("Searching"),
                "created_at": "2026-11-26T10:00:01",
            },
        },
        {"type": "MESSAGE", "message": MESSAGE},
        {"type": "FUTURE_OUTPUT", "x": 1},
    ],
    "error": {"code": None, "message": "none"},
}

CASES: list[tuple[dict[str, Any], type[Any]]] = [
    (RESPONSE, Response),
    (MESSAGE, Message),
    (RESPONSE["outputs"][0]["reasoning_message"], ReasoningMessage),
    (
        {"conversation_id": "conv_1", "created_at": "2026-11-26T10:00:00Z", "archived": True},
        Conversation,
    ),
    (
        {
            "event_id": "evt_1",
            "conversation_id": "conv_1",
            "event_payload": {"type": "MESSAGE_EVENT", "message": MESSAGE},
            "created_at": "2026-11-26T10:00:00Z",
        },
        Event,
    ),
    (
        {
            "modal_id": "modal_1",
            "title": "Form",
            "fields": [
                {"name": "a", "type": "TEXT", "visible": True, "options": [{"v": 1}]},
                {"name": "b", "type": "DISPLAY", "read_only": True},
            ],
        },
        Modal,
    ),
]

VALUES: list[Any] = [None, 0, 1, True, False, 1.5, "", "x", "2026-11-26T10:00:00", [], [1],
                     ["a"], {}, {"type": "PLAIN_TEXT"}, "PAUSED"]  # fmt: skip


@pytest.fixture(scope="module")
def reference() -> Any:
    return _reference_converter()


def _reference_converter() -> Any:
    """The converter as configured, minus the generated functions."""
    original = _fastpath.register
    _fastpath.register = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        return _converter._make(detailed=False)
    finally:
        _fastpath.register = original


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _mutate(data: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    data = copy.deepcopy(data)
    paths = list(_paths(data))[1:]
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(paths)
        parent: Any = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(parent, dict) and rng.random() < 0.3:
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = copy.deepcopy(rng.choice(VALUES))
        except (KeyError, IndexError, TypeError):
            pass
    return data


def _outcome(conv: Any, data: Any, cls: type[Any]) -> tuple[str, Any]:
    try:
        return "ok", conv.structure(data, cls)
    except Exception as exc:
        return "error", type(exc).__name__


@pytest.mark.parametrize(("data", "cls"), CASES, ids=[c.__name__ for _, c in CASES])
def test_valid_payloads_give_equal_models(reference: Any, data: Any, cls: type[Any]) -> None:
    fast = _converter.converter.structure(data, cls)
    assert fast == reference.structure(data, cls)
    assert _converter.converter.unstructure(fast) == reference.unstructure(fast)


def test_generated_hooks_are_in_use() -> None:
    hook = _converter.converter.get_structure_hook(Response)
    assert hook.__name__ == "structure_Response"
    assert hook.__code__.co_filename.startswith("<moveworks_async generated")


def test_mutated_payloads_agree(reference: Any) -> None:
    rng = random.Random(6)
    accepted = rejected = 0
    for _ in range(3000):
        base, cls = rng.choice(CASES)
        data = _mutate(base, rng)
        want = _outcome(reference, data, cls)
        got = _outcome(_converter.converter, data, cls)
        assert got[0] == want[0], (data, want, got)
        if want[0] == "ok":
            assert got[1] == want[1], data
            accepted += 1
        else:
            rejected += 1
    # Both sides of the rules were exercised.
    assert accepted > 300
    assert rejected > 300


def test_non_mapping_inputs_are_rejected() -> None:
    for value in ("text", [1, 2], 3, None):
        with pytest.raises(Exception):  # noqa: B017 - any error: the public path explains
            _converter.converter.structure(value, Response)


# --- twin construction (issue 16) -----------------------------------------------------------


def _converter_with_twins(enabled: bool) -> Any:
    saved = _fastpath.TWINS
    _fastpath.TWINS = enabled
    try:
        conv = _converter._make(detailed=False)
        for _, cls in CASES:  # the hooks are generated now, under this setting
            conv.get_structure_hook(cls)
        import attrs

        from moveworks_async import _models

        for model in vars(_models).values():
            if isinstance(model, type) and attrs.has(model):
                conv.get_structure_hook(model)
        return conv
    finally:
        _fastpath.TWINS = saved


@pytest.fixture(scope="module")
def twins() -> Any:
    return _converter_with_twins(True)


@pytest.fixture(scope="module")
def setters() -> Any:
    return _converter_with_twins(False)


def _full_outcome(conv: Any, data: Any, cls: type[Any]) -> tuple[str, Any]:
    try:
        return "ok", conv.structure(data, cls)
    except Exception as exc:
        return "error", (type(exc).__name__, str(exc))


def test_every_model_passes_the_twin_self_check() -> None:
    """On this CPython every API model gets a twin; its instances are the real class."""
    import attrs

    from moveworks_async import _models

    models = [c for c in vars(_models).values() if isinstance(c, type) and attrs.has(c)]
    assert models
    for cls in models:
        twin = _fastpath.twin_of(cls)
        assert twin is not None, cls
        assert twin.__bases__ == (cls,)


def test_twin_overrides_both_frozen_hooks() -> None:
    """attrs' frozen classes define ``__setattr__`` and ``__delattr__``; while the twin
    inherits either, CPython routes every store through the Python-level ``__setattr__``
    (the cause of the first, 1.38x slower, twin build). The twin overrides both, and
    ``__init__``, so that ``twin()`` takes no argument."""
    for cls in (Response, Message, Conversation):
        assert cls.__delattr__ is not object.__delattr__  # the premise: attrs defines it
        twin = _fastpath.twin_of(cls)
        assert twin is not None
        assert twin.__dict__["__setattr__"] is object.__setattr__
        assert twin.__dict__["__delattr__"] is object.__delattr__
        assert twin.__dict__["__init__"] is object.__init__
        built = twin()
        built.conversation_id = "x"  # a plain store, not FrozenInstanceError
        assert built.conversation_id == "x"


def test_nested_models_are_inlined_into_one_function() -> None:
    """One function per top-level model: Message's citations, their displays and
    attributes, references, feedback, sender and handoff are built in its own code (a
    ``__class__`` assignment per class), not by calling their generated hooks."""
    hook = _converter.converter.get_structure_hook(Message)
    generated = {
        name
        for name, value in hook.__globals__.items()
        if getattr(value, "_moveworks_generated", None) is not None
    }
    assert generated == {"structure_Message"}  # itself: no other generated hook is bound
    source = inspect.getsource(hook)
    assert source.count(".__class__ = ") >= 10
    assert "for _i" in source


def test_inlined_datetime_errors_match_the_converter_rule() -> None:
    for value, want in ((5, "expected an ISO 8601 string, got int"), ("x", "Invalid isoformat")):
        data = {**CASES[3][0], "created_at": value}
        with pytest.raises((TypeError, ValueError)) as got:
            _converter.converter.structure(data, Conversation)
        with pytest.raises((TypeError, ValueError)) as ref:
            _converter._structure_datetime(value, None)
        assert str(got.value) == str(ref.value)
        assert want in str(got.value)


def test_twin_generated_code_is_used(twins: Any, setters: Any) -> None:
    import inspect

    twin_src = inspect.getsource(twins.get_structure_hook(Conversation))
    setter_src = inspect.getsource(setters.get_structure_hook(Conversation))
    assert "__class__ =" in twin_src
    assert "__class__ =" not in setter_src
    built = twins.structure(CASES[3][0], Conversation)
    assert type(built) is Conversation
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.title = "changed"  # type: ignore[misc]


def test_twins_agree_with_setters_and_cattrs_on_mutated_payloads(
    reference: Any, twins: Any, setters: Any
) -> None:
    """Thousands of mutated payloads: the same objects and the same errors (type and
    message) from the twin build, the slot-setter build and cattrs' own code."""
    rng = random.Random(16)
    accepted = rejected = 0
    for _ in range(3000):
        base, cls = rng.choice(CASES)
        data = _mutate(base, rng)
        want = _full_outcome(setters, data, cls)
        got = _full_outcome(twins, data, cls)
        assert got == want, data
        assert _outcome(reference, data, cls)[0] == got[0], data
        if got[0] == "ok":
            accepted += 1
            assert type(got[1]) is cls or cls not in {Conversation, Response, Message}
        else:
            rejected += 1
    assert accepted > 300
    assert rejected > 300


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(range(len(CASES))), seed=st.integers(0, 2**32 - 1))
def test_twins_agree_on_generated_payloads(case: int, seed: int) -> None:
    """Hypothesis drives the mutations (shrinking to a minimal disagreeing payload)."""
    base, cls = CASES[case]
    data = _mutate(base, random.Random(seed))
    got = _full_outcome(_TWINS, data, cls)
    assert got == _full_outcome(_SETTERS, data, cls)
    # cattrs' own generated code (no _fastpath): the same accept/reject and an equal object.
    # (Which error comes first when a payload has several may differ: cattrs reads the
    # fields in another order. Users see the detailed converter's error either way.)
    want = _full_outcome(_REFERENCE, data, cls)
    assert got[0] == want[0]
    if got[0] == "ok":
        assert got[1] == want[1]


_TWINS = _converter_with_twins(True)
_SETTERS = _converter_with_twins(False)
_REFERENCE = _reference_converter()
