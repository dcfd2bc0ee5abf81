"""controller.core.secrets: the one TCP-MD5 password rule of the scenario, API and renderers."""

from __future__ import annotations

import pytest

from controller.core.secrets import MD5_MAX, check_md5_password, md5_password_problem

HARD = "!@#$%^&*()-_=+[]{}<>,.?/~|;:"


@pytest.mark.parametrize("good", [HARD, "a", "x" * MD5_MAX, "pw`0"])
def test_accepted(good: str) -> None:
    assert md5_password_problem(good) is None
    assert check_md5_password(good) == good


@pytest.mark.parametrize(("bad", "why"), [
    ("", "is empty"),
    ("x" * (MD5_MAX + 1), "is 81 characters long"),
    ("it's", "contains a quote (')"),
    ('a"b', 'contains a double quote (")'),
    ("a\\b", "contains a backslash"),
    ("a b", "contains whitespace"),
    ("a\nb", "contains whitespace"),
    ("a\tb", "contains whitespace"),
    ("a\x01b", "contains control character"),
    ("mot-de-passé", "contains non-ASCII"),
    (42, "must be a string"),
])
def test_refused_with_the_reason_and_the_rule(bad: object, why: str) -> None:
    problem = md5_password_problem(bad)
    assert problem is not None and why in problem, problem
    assert "printable ASCII" in problem and "quotes" in problem and "backslash" in problem
    if isinstance(bad, str):
        with pytest.raises(ValueError, match="MD5 password"):
            check_md5_password(bad)
