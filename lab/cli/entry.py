"""The ``interlink-lab`` entry point: it imports the CLI itself, so a Ctrl-C while Python is
still importing ends with one line and exit 130, not a traceback."""

from __future__ import annotations

import sys

from lab.cli.common import EXIT_INTERRUPTED, PROG


def entry() -> None:
    try:
        from lab.cli.main import main
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    main()
