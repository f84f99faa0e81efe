"""The ``facerec`` command line (``python -m facerec.cli`` or the ``facerec`` script).

One module per command group (``people``, ``tagging``, ``eval``, ``models``, ``train``, ``backup``...), each with
``register(sub, common)``; ``main`` builds the parser from ``main.COMMAND_MODULES`` and dispatches; ``common``
holds the exit codes, the output helpers and the per-command ``Context``. See ``facerec/cli/main.py`` for how
to add a command group.
"""

from .common import EXIT_FATAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, Context
from .main import COMMAND_MODULES, build_parser, main, run

__all__ = [
    "COMMAND_MODULES", "Context", "EXIT_FATAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PARTIAL", "EXIT_USAGE",
    "build_parser", "main", "run",
]
