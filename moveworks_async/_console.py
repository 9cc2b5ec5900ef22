"""What the console script and the command line share about ending: the Ctrl-C status and
report, the ``--json`` switch and the name of the prompt's reader thread.

A leaf that imports nothing at all (not even ``__future__``): the console script
(``_launch``) imports it before it installs its Ctrl-C handler, so it must cost no import the
interpreter has not done already; the command line (``_cli_options``, ``_cli_render``) imports
it too, so the launcher and the command line import each other in neither direction but this.
"""

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["EXIT_INTERRUPTED", "INTERRUPTED_JSON", "STDIN_READER", "wants_json"]

#: The name of the daemon thread ``chat`` reads its prompt with (``_cli_render.read_line``).
STDIN_READER = "moveworks-async stdin"

#: The ``--json`` report of an interrupt: ``_cli_options.error_object("Interrupted",
#: "interrupted")`` as JSON, spelled out so that reporting needs no import.
INTERRUPTED_JSON = (
    '{"error": {"type": "Interrupted", "message": "interrupted", "status": null, '
    '"request_id": null}}'
)

#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


def wants_json(argv: "Sequence[str]") -> bool:
    """Whether ``--json`` was asked for (read from the raw arguments: it decides the format
    of errors found while the arguments themselves are being parsed)."""
    return "--json" in argv[: argv.index("--")] if "--" in argv else "--json" in argv
