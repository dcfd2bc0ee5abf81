"""The README's own-test example, run exactly as written there, as a user would: its code
block saved to a file and handed to pytest, the plugin found through its entry point."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example(name: str) -> str:
    """The python block after ``<!-- readme-example: NAME -->``."""
    m = re.search(rf"<!-- readme-example: {re.escape(name)} -->\n```python\n(.*?)```",
                  README.read_text(), re.S)
    assert m, f"README.md has no example {name}"
    return m.group(1)


def test_the_readme_example_passes(tmp_path: Path) -> None:
    (tmp_path / "test_my_interlink.py").write_text(readme_example("test_my_interlink.py"))
    # outside the project: no conftest of ours, only what an installed interlink-lab gives
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "test_my_interlink.py"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "1 passed" in res.stdout, res.stdout
