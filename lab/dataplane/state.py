"""Where the lab keeps its files on the host: ``$ILAB_STATE_DIR`` (default /run/interlink-lab).

Here in the data plane because container runtimes bind it into every node and keep their
engine's files under it; ``lab.control.labdir`` builds each lab's directory on it.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_STATE_DIR = "/run/interlink-lab"


def state_root() -> Path:
    return Path(os.environ.get("ILAB_STATE_DIR", DEFAULT_STATE_DIR))
