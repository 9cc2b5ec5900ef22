"""The public surface of ``moveworks_async``: exported names, the error tree, the version."""

from __future__ import annotations

import builtins
import importlib.metadata
import inspect
from types import ModuleType

import pytest

import moveworks_async as mw

REQUIRED = {
    "AsyncMoveworks",
    "ClientCredentials",
    "Conversation",
    "Response",
    "ResponseStatus",
    "Message",
    "Content",
    "Citation",
    "Event",
    "Action",
    "CallbackAction",
    "UrlAction",
    "ModalAction",
    "UnknownAction",
    "UnknownContent",
    "UnknownOutput",
    "MessageOutput",
    "ReasoningOutput",
    "ReasoningMessage",
    "Modal",
    "ModalField",
    "Timeout",
    "MoveworksError",
    "APIError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "InternalServerError",
    "APIConnectionError",
    "APITimeoutError",
    "ConnectTimeout",
    "ReadTimeout",
    "TotalTimeout",
    "FirstEventTimeout",
    "IdleTimeout",
    "DeadlineTimeout",
    "TimeoutPhase",
    "ResponseValidationError",
    "InvalidParameterError",
    "ClientStateError",
    "UnsupportedOperationError",
    "WaitTimeoutError",
    "UnexpectedResponseError",
    "AsyncDataAPI",
    "DataConversation",
    "DataInteraction",
    "DataPluginCall",
    "DataPluginResource",
    "DataUser",
    "NotificationResult",
    "NotificationStatus",
    "NotificationBatchError",
    "AiohttpTransport",
    "PyreqwestTransport",
    "Transport",
    "__version__",
}


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: SCREAMING_CASE constants, then CamelCase classes, then the rest.
    if name.isupper():
        return (0, name)
    if name[0].isupper():
        return (1, name)
    return (2, name)


def test_all_is_sorted() -> None:
    """``__all__`` is in isort order (constants, classes, then the rest) without duplicates."""
    assert list(mw.__all__) == sorted(mw.__all__, key=_isort_key)
    assert len(set(mw.__all__)) == len(mw.__all__)


def test_every_name_in_all_resolves() -> None:
    """Every name in ``__all__`` is an attribute of the package."""
    for name in mw.__all__:
        assert getattr(mw, name) is not None, name


def test_all_lists_exactly_the_public_names() -> None:
    """Nothing public is imported into the package without being exported, and vice versa."""
    public = {
        name
        for name, value in vars(mw).items()
        if not name.startswith("_") and not isinstance(value, ModuleType) and name != "annotations"
    }
    assert public | {"__version__"} == set(mw.__all__)


def test_required_names_are_exported() -> None:
    """The names the issue fixes (external checks use them) are all exported."""
    assert set(mw.__all__) >= REQUIRED


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        ("APIError", "MoveworksError"),
        ("APIStatusError", "APIError"),
        ("BadRequestError", "APIStatusError"),
        ("AuthenticationError", "APIStatusError"),
        ("PermissionDeniedError", "APIStatusError"),
        ("NotFoundError", "APIStatusError"),
        ("RateLimitError", "APIStatusError"),
        ("InternalServerError", "APIStatusError"),
        ("APIConnectionError", "APIError"),
        ("APITimeoutError", "APIConnectionError"),
        ("ConnectTimeout", "APITimeoutError"),
        ("ReadTimeout", "APITimeoutError"),
        ("TotalTimeout", "APITimeoutError"),
        ("FirstEventTimeout", "APITimeoutError"),
        ("IdleTimeout", "APITimeoutError"),
        ("DeadlineTimeout", "APITimeoutError"),
        ("ResponseValidationError", "APIError"),
        ("UnexpectedResponseError", "APIError"),
        ("InvalidParameterError", "MoveworksError"),
        ("InvalidParameterError", "ValueError"),
        ("ClientStateError", "MoveworksError"),
        ("ClientStateError", "RuntimeError"),
        ("UnsupportedOperationError", "MoveworksError"),
        ("WaitTimeoutError", "MoveworksError"),
        ("WaitTimeoutError", "TimeoutError"),
        ("MoveworksError", "Exception"),
        ("NotificationBatchError", "MoveworksError"),
    ],
)
def test_error_tree(child: str, parent: str) -> None:
    """Each exception has the documented base class."""
    base = getattr(mw, parent) if hasattr(mw, parent) else getattr(builtins, parent)
    assert issubclass(getattr(mw, child), base)


@pytest.mark.parametrize(
    "name",
    [
        "BadRequestError",
        "AuthenticationError",
        "PermissionDeniedError",
        "NotFoundError",
        "RateLimitError",
        "InternalServerError",
    ],
)
def test_status_errors_are_not_connection_errors(name: str) -> None:
    """A status error is not a transport error (``except APIConnectionError`` must not catch it)."""
    assert not issubclass(getattr(mw, name), mw.APIConnectionError)


def test_version_matches_metadata() -> None:
    """``__version__`` is the installed distribution's version."""
    assert mw.__version__ == importlib.metadata.version("moveworks-async")


def test_unknown_attribute_raises_attribute_error() -> None:
    """The module ``__getattr__`` only serves ``__version__``."""
    with pytest.raises(AttributeError):
        _ = mw.NoSuchThing  # type: ignore[attr-defined]


def test_client_signature_has_the_documented_parameters() -> None:
    """``AsyncMoveworks`` takes the keyword arguments the issue lists."""
    params = inspect.signature(mw.AsyncMoveworks).parameters
    for name in (
        "assistant_name",
        "token",
        "auth",
        "base_url",
        "api_version",
        "session",
        "timeout",
    ):
        assert name in params
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
    # None: from MOVEWORKS_BASE_URL / MOVEWORKS_API_VERSION, else the documented defaults.
    assert params["base_url"].default is None
    assert params["api_version"].default is None
    client = mw.AsyncMoveworks(assistant_name="acme-capi", token="t")
    assert client.base_url == mw.DEFAULT_BASE_URL == "https://api.moveworks.ai"
    assert client.generation == "v1"


def test_client_has_every_resource() -> None:
    """A client exposes the seven resources with their documented methods."""
    client = mw.AsyncMoveworks(assistant_name="acme-capi", token="t")
    expected = {
        "conversations": ("create", "get", "update", "list"),
        "responses": ("create", "get", "wait"),
        "messages": ("list", "list_for_response"),
        "feedback": ("submit",),
        "events": ("list", "get"),
        "modals": ("get", "refresh", "submit"),
        "notifications": ("send", "send_many", "send_legacy"),
    }
    for resource, methods in expected.items():
        for method in methods:
            assert callable(getattr(getattr(client, resource), method)), f"{resource}.{method}"


def test_import_is_lazy_and_every_name_is_the_real_one() -> None:
    """``import moveworks_async`` imports no submodule (nor aiohttp): the CLI handles Ctrl-C
    before the heavy imports. Each public name, once asked for, is its defining module's."""
    import subprocess
    import sys

    probe = (
        "import sys, moveworks_async; print(sorted(m for m in sys.modules "
        "if 'aiohttp' in m or m.startswith('moveworks_async.')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    for name in mw.__all__:
        value = getattr(mw, name)
        module = getattr(value, "__module__", None)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert module is not None
            assert module.startswith("moveworks_async.")
            assert getattr(sys.modules[module], value.__name__) is value, name
    assert set(mw.__all__) <= set(dir(mw))


def test_new_public_names() -> None:
    """Issue 14's names: RawResponse, the ApiVersion literal and its default."""
    from typing import get_args

    assert get_args(mw.ApiVersion) == ("v1beta1", "assistant-v1", "v1")
    assert tuple(mw.Generation) == get_args(mw.ApiVersion)  # one list of generations
    assert mw.DEFAULT_API_VERSION == "v1"
    assert {"RawResponse", "ApiVersion", "DEFAULT_API_VERSION"} <= set(mw.__all__)


def test_transport_names_are_a_public_literal() -> None:
    """``mw.TransportName``: the names ``transport=`` takes, the ones the client accepts."""
    from typing import get_args

    from moveworks_async._transport_choice import TRANSPORTS

    assert get_args(mw.TransportName) == ("aiohttp", "pyreqwest") == TRANSPORTS
    assert "TransportName" in mw.__all__
