"""moveworks-async: the async-first Python SDK for the Moveworks Conversations API.

Everything public is re-exported here; the underscored modules are private.

The names are imported on first use (PEP 562), so ``import moveworks_async`` itself is
instant: the ``moveworks-async`` command starts its Ctrl-C handling before aiohttp is
imported, and type checkers still see every name through the ``TYPE_CHECKING`` imports.
"""

# No import at all, not even ``typing`` or ``__future__``: the console script imports this
# package before it can install its Ctrl-C handler (see ``_launch``). Type checkers treat a
# constant named TYPE_CHECKING as ``typing.TYPE_CHECKING``.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._auth import CallableToken, ClientCredentials, StaticToken, TokenSource
    from ._client import DEFAULT_BASE_URL, AsyncMoveworks
    from ._config import DEFAULT_API_VERSION, ApiVersion
    from ._data_api import AsyncDataAPI
    from ._data_models import (
        DataConversation,
        DataConversationDetail,
        DataExternalId,
        DataInteraction,
        DataInteractionDetail,
        DataPluginCall,
        DataPluginResource,
        DataPluginResourceDetail,
        DataUser,
    )
    from ._errors import (
        APIConnectionError,
        APIError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ClientStateError,
        ConnectTimeout,
        DeadlineTimeout,
        FirstEventTimeout,
        GovernorUnavailableError,
        IdleTimeout,
        InternalServerError,
        InvalidParameterError,
        MoveworksError,
        NotFoundError,
        NotificationBatchError,
        PermissionDeniedError,
        RateLimitError,
        ReadTimeout,
        ResponseValidationError,
        SlowConsumerError,
        StreamError,
        StreamInterruptedError,
        StreamProtocolError,
        TimeoutPhase,
        TotalTimeout,
        UnexpectedResponseError,
        UnsupportedOperationError,
        WaitTimeoutError,
    )
    from ._events import (
        ResponseCompleted,
        ResponseCreated,
        ResponseFailed,
        ResponseInProgress,
        ResponseOutputDelta,
        StreamEvent,
        UnknownEvent,
    )
    from ._governor import Governor, GovernorSnapshot, RateGovernor
    from ._hooks import (
        CallEndInfo,
        CallInfo,
        GovernorWaitInfo,
        Hooks,
        RequestInfo,
        ResponseInfo,
        RetryInfo,
    )
    from ._models import (
        Action,
        ActorType,
        CallbackAction,
        Citation,
        CitationAttribute,
        CitationDisplay,
        CitationLocation,
        Content,
        ContentReference,
        Conversation,
        ErrorDetail,
        Event,
        EventPayload,
        EventType,
        FeedbackOption,
        FeedbackResult,
        FileRef,
        Handoff,
        HandoffCategory,
        HandoffItem,
        Message,
        MessageFeedback,
        MessageOutput,
        Modal,
        ModalAction,
        ModalField,
        ModalSubmission,
        OutputItem,
        ReasoningMessage,
        ReasoningOutput,
        Response,
        ResponseStatus,
        SenderInfo,
        UnknownAction,
        UnknownContent,
        UnknownOutput,
        UrlAction,
    )
    from ._notifications import (
        NotificationResult,
        Notifications,
        NotificationStatus,
        notifications_governor,
    )
    from ._otel import OpenTelemetryHooks
    from ._protocol import Generation
    from ._raw import RawResponse
    from ._redis_governor import RedisRateGovernor
    from ._retry import RetryPolicy
    from ._streaming import ResponseStream, StreamConsumer
    from ._transport import AiohttpTransport, Timeout, Transport, TransportName
    from ._transport_pyreqwest import PyreqwestTransport

del TYPE_CHECKING  # not a public name of the package

__all__ = [
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "Action",
    "ActorType",
    "AiohttpTransport",
    "ApiVersion",
    "AsyncDataAPI",
    "AsyncMoveworks",
    "AuthenticationError",
    "BadRequestError",
    "CallEndInfo",
    "CallInfo",
    "CallableToken",
    "CallbackAction",
    "Citation",
    "CitationAttribute",
    "CitationDisplay",
    "CitationLocation",
    "ClientCredentials",
    "ClientStateError",
    "ConnectTimeout",
    "Content",
    "ContentReference",
    "Conversation",
    "DataConversation",
    "DataConversationDetail",
    "DataExternalId",
    "DataInteraction",
    "DataInteractionDetail",
    "DataPluginCall",
    "DataPluginResource",
    "DataPluginResourceDetail",
    "DataUser",
    "DeadlineTimeout",
    "ErrorDetail",
    "Event",
    "EventPayload",
    "EventType",
    "FeedbackOption",
    "FeedbackResult",
    "FileRef",
    "FirstEventTimeout",
    "Generation",
    "Governor",
    "GovernorSnapshot",
    "GovernorUnavailableError",
    "GovernorWaitInfo",
    "Handoff",
    "HandoffCategory",
    "HandoffItem",
    "Hooks",
    "IdleTimeout",
    "InternalServerError",
    "InvalidParameterError",
    "Message",
    "MessageFeedback",
    "MessageOutput",
    "Modal",
    "ModalAction",
    "ModalField",
    "ModalSubmission",
    "MoveworksError",
    "NotFoundError",
    "NotificationBatchError",
    "NotificationResult",
    "NotificationStatus",
    "Notifications",
    "OpenTelemetryHooks",
    "OutputItem",
    "PermissionDeniedError",
    "PyreqwestTransport",
    "RateGovernor",
    "RateLimitError",
    "RawResponse",
    "ReadTimeout",
    "ReasoningMessage",
    "ReasoningOutput",
    "RedisRateGovernor",
    "RequestInfo",
    "Response",
    "ResponseCompleted",
    "ResponseCreated",
    "ResponseFailed",
    "ResponseInProgress",
    "ResponseInfo",
    "ResponseOutputDelta",
    "ResponseStatus",
    "ResponseStream",
    "ResponseValidationError",
    "RetryInfo",
    "RetryPolicy",
    "SenderInfo",
    "SlowConsumerError",
    "StaticToken",
    "StreamConsumer",
    "StreamError",
    "StreamEvent",
    "StreamInterruptedError",
    "StreamProtocolError",
    "Timeout",
    "TimeoutPhase",
    "TokenSource",
    "TotalTimeout",
    "Transport",
    "TransportName",
    "UnexpectedResponseError",
    "UnknownAction",
    "UnknownContent",
    "UnknownEvent",
    "UnknownOutput",
    "UnsupportedOperationError",
    "UrlAction",
    "WaitTimeoutError",
    "__version__",
    "notifications_governor",
]


#: The modules the public names come from (see the ``TYPE_CHECKING`` imports above).
_MODULES = (
    "_auth",
    "_client",
    "_config",
    "_data_api",
    "_data_models",
    "_errors",
    "_events",
    "_governor",
    "_hooks",
    "_models",
    "_notifications",
    "_otel",
    "_protocol",
    "_raw",
    "_redis_governor",
    "_retry",
    "_streaming",
    "_transport",
    "_transport_pyreqwest",
)


def __getattr__(name: str) -> "Any":
    # The version comes from the installed metadata, computed only when asked for.
    if name == "__version__":
        from ._version import package_version

        return package_version()
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    # The first public name asked for imports them all, once: later lookups are plain
    # module attributes.
    found = globals()
    for module_name in _MODULES:
        module = import_module(f".{module_name}", __name__)
        for public in __all__:
            if public not in found and hasattr(module, public):
                found[public] = getattr(module, public)
    if name not in found:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return found[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
