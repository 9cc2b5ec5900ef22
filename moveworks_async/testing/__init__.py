"""An embedded fake Moveworks Conversations API server for tests and benchmarks.

::

    from moveworks_async.testing import Answer, FakeMoveworks, Fault

    async with FakeMoveworks(answer={"hi": "Hello!"}) as server:
        server.inject(Fault.rate_limited(retry_after="2"), times=1)
        ...  # point a client at server.url

The server is a wire-level implementation of the API reference
(https://help.moveworks.com/api-reference; the schemas it follows are collected in the
repository's ``tests/data/moveworks-openapi.yaml``), all three generations at once, built only
on aiohttp.web; it does not import the SDK. Pytest users can enable the
``fake_moveworks`` fixture with ``pytest_plugins = ["moveworks_async.testing.pytest_plugin"]``;
``python -m moveworks_async.testing --port 8089`` runs it as a process.
"""

from ._answers import Answer
from ._faults import Fault
from ._server import FakeMoveworks
from ._stats import FeedbackRecord, ModalSubmission, RequestRecord, Stats

__all__ = [
    "Answer",
    "FakeMoveworks",
    "Fault",
    "FeedbackRecord",
    "ModalSubmission",
    "RequestRecord",
    "Stats",
]
