"""Frozen records of the Data API (analytics export, ``/export/v1/records/...``).

Every field is optional: a ``select=`` returns partial records, and the export tables are
documented loosely. Categorical fields (``route``, ``type``, ``platform``, ...) are plain
strings, so a value added by Moveworks tomorrow is kept as is; ``raw`` is the record exactly as
decoded from the wire, including fields this version does not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import field, frozen

__all__ = [
    "DataConversation",
    "DataConversationDetail",
    "DataExternalId",
    "DataInteraction",
    "DataInteractionDetail",
    "DataPluginCall",
    "DataPluginResource",
    "DataPluginResourceDetail",
    "DataRecord",
    "DataUser",
]


@frozen
class DataConversationDetail:
    """``detail`` of a notification conversation (live from 2026-04-01)."""

    type: str | None = None
    source: str | None = None
    domain: str | None = None
    usecase_id: str | None = None
    usecase_name: str | None = None
    ticket_id: str | None = None
    campaign_id: str | None = None
    campaign_name: str | None = None
    channel_id: str | None = None
    channel_name: str | None = None
    content: str | None = None


@frozen
class DataConversation:
    """A row of ``/export/v1/records/conversations``; ``route`` is e.g. ``DM``,
    ``Notification``, ``Channel`` or ``Ticket``; ``type`` e.g.
    ``CONVERSATION_TYPE_EVENTS_NOTIFICATION``."""

    id: str | None = None
    primary_domain: str | None = None
    route: str | None = None
    user_id: str | None = None
    type: str | None = None
    detail: DataConversationDetail | None = None
    created_time: datetime | None = None
    last_updated_time: datetime | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


@frozen
class DataInteractionDetail:
    """``detail`` of an interaction (its own ``detail`` is free-form)."""

    content: str | None = None
    domain: str | None = None
    entity: str | None = None
    type: str | None = None
    detail: Any = None
    resource_id: str | None = None
    file_types: tuple[str, ...] = ()


@frozen
class DataInteraction:
    """A row of ``/export/v1/records/interactions``; ``platform`` is e.g. ``slack`` or
    ``msteams``, ``type`` e.g. ``INTERACTION_TYPE_LINK_CLICK``."""

    id: str | None = None
    conversation_id: str | None = None
    user_id: str | None = None
    actor: str | None = None
    platform: str | None = None
    type: str | None = None
    label: str | None = None
    parent_interaction_id: str | None = None
    detail: DataInteractionDetail | None = None
    created_time: datetime | None = None
    last_updated_time: datetime | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


@frozen
class DataPluginCall:
    """A row of ``/export/v1/records/plugin-calls``."""

    id: str | None = None
    interaction_id: str | None = None
    conversation_id: str | None = None
    plugin_name: str | None = None
    user_id: str | None = None
    served: bool | None = None
    used: bool | None = None
    plugin_update_time: datetime | None = None
    created_time: datetime | None = None
    last_updated_time: datetime | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


@frozen
class DataPluginResourceDetail:
    """``detail`` of a plugin resource (the knowledge article, file, form, ticket...)."""

    domain: str | None = None
    external_resource_id: str | None = None
    name: str | None = None
    snippet: str | None = None
    source: str | None = None
    type: str | None = None
    url: str | None = None


@frozen
class DataPluginResource:
    """A row of ``/export/v1/records/plugin-resources``; ``type`` is e.g.
    ``RESOURCE_TYPE_KNOWLEDGE``."""

    id: str | None = None
    resource_id: str | None = None
    type: str | None = None
    plugin_call_id: str | None = None
    interaction_id: str | None = None
    user_id: str | None = None
    conversation_id: str | None = None
    detail: DataPluginResourceDetail | None = None
    cited: bool | None = None
    created_time: datetime | None = None
    last_updated_time: datetime | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


@frozen
class DataExternalId:
    """One of a user's ids in a connected system."""

    connector_name: str | None = None
    external_id: str | None = None
    source: str | None = None


@frozen
class DataUser:
    """A row of ``/export/v1/records/users``."""

    id: str | None = None
    email_addr: str | None = None
    access_to_bot: bool | None = None
    first_name: str | None = None
    last_name: str | None = None
    user_preferred_language: str | None = None
    first_interaction_time: datetime | None = None
    latest_interaction_time: datetime | None = None
    external_ids: tuple[DataExternalId, ...] = ()
    last_updated_time: datetime | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False, eq=False)


#: Any Data API record.
DataRecord = DataConversation | DataInteraction | DataPluginCall | DataPluginResource | DataUser
