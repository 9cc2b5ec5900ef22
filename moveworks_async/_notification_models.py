"""The Events API's reply models (a leaf: the converter registers them without importing the
resource module ``_notifications``, which sits above the client)."""

from __future__ import annotations

from attrs import frozen

from ._models import _OpenEnum

__all__ = ["NotificationResult", "NotificationStatus"]


class NotificationStatus(_OpenEnum):
    """What the Events API says about a send; today only ``RECEIVED`` (scheduled). Unknown
    values are kept (``NotificationStatus("QUEUED") == "QUEUED"``)."""

    RECEIVED = "RECEIVED"


@frozen
class NotificationResult:
    """The reply to one send: ``status`` (``RECEIVED``: scheduled for delivery, which is
    asynchronous and may still fail per recipient), the ``recipients`` of that request and the
    server's ``request_id`` if it sent a trace header."""

    status: NotificationStatus
    recipients: tuple[str, ...] = ()
    request_id: str | None = None
