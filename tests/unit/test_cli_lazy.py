"""The CLI imports a verb only when it runs: `--help` lists them from a table, which must say
what the commands themselves say."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from lab.cli.main import VERBS, cli, load_verb


@pytest.mark.parametrize("name", sorted(VERBS))
def test_the_listed_help_is_the_commands_own(name: str) -> None:
    cmd = load_verb(name)
    assert cmd.name == name
    assert VERBS[name][2] == cmd.get_short_help_str(limit=10_000), (
        f"update VERBS[{name!r}] in lab/cli/main.py to the command's docstring")


def test_help_imports_no_verb() -> None:
    code = ("import sys; from lab.cli.main import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if (m.startswith('lab.cli.') "
            "and m not in ('lab.cli.main', 'lab.cli.common')) "
            "or m in ('http.client', 'lab.control.client')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_down_imports_no_scenario_machinery() -> None:
    code = ("import sys, lab.cli.main as m; m.load_verb('down'); "
            "print(sorted(n for n in ('lab.control.lifecycle', 'lab.scenario.schema', "
            "'jsonschema', 'docker') if n in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_every_verb_is_listed_and_an_unknown_one_fails() -> None:
    res = CliRunner().invoke(cli, ["--help"])
    assert res.exit_code == 0
    for name in VERBS:
        assert f"  {name} " in res.output
    res = CliRunner().invoke(cli, ["nosuch"])
    assert res.exit_code == 2 and "No such command" in res.output
