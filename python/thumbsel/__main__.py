"""The ``thumbsel`` command (and ``python -m thumbsel``).

Signal handling comes first, then the heavy imports: a Ctrl-C or SIGTERM
while Python is still loading PyAV and Arrow ends as cleanly as one during a
run (see :mod:`thumbsel.exits`).
"""

from __future__ import annotations

import sys

from thumbsel.errors import Terminated
from thumbsel.exits import EXIT_INTERRUPTED, EXIT_TERMINATED, leave, stop_on_sigterm


def run() -> None:
    stop_on_sigterm()
    try:
        from thumbsel.cli import entry

        # Inside the try too: a signal between the import and entry's own handling
        # must not end in a traceback either.
        entry()
    except KeyboardInterrupt:
        print("thumbsel: interrupted", file=sys.stderr)
        leave(EXIT_INTERRUPTED)
    except Terminated:
        print("thumbsel: terminated", file=sys.stderr)
        leave(EXIT_TERMINATED)


if __name__ == "__main__":
    run()
