"""The ``interlink-lab`` command. ``entry`` is the entry point: it imports the CLI itself, so a
Ctrl-C while Python is still importing ends with one line and exit 130, not a traceback."""

from __future__ import annotations

import sys

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def entry() -> None:
    try:
        from lab.cli.main import main
    except KeyboardInterrupt:
        sys.stderr.write("interlink-lab: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)
    main()
