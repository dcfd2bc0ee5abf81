"""The one rule for a TCP-MD5 password that every speaker the lab runs can take (pure).

A password is rendered into ExaBGP (``md5-password "..."``: its tokeniser knows no escapes),
FRR (``neighbor X password WORD``: one word) and BIRD (``password "..."``) configurations and
handed to the kernel (TCP_MD5SIG keys are at most 80 bytes). What all of them take, tested
against each daemon: 1..80 printable ASCII characters without whitespace, quotes or backslash.
"""

from __future__ import annotations

MD5_MAX = 80  # TCP_MD5SIG_MAXKEYLEN
MD5_RULE = (f"1..{MD5_MAX} printable ASCII characters, without spaces, quotes (' \") "
            "or backslash")
_FORBIDDEN = {"'": "a quote (')", '"': 'a double quote (")', "\\": "a backslash"}


def md5_password_problem(value: object) -> str | None:
    """Why ``value`` cannot be a TCP-MD5 password, or None if every speaker accepts it."""
    if not isinstance(value, str):
        return f"must be a string of {MD5_RULE}"
    if not value:
        return f"is empty: {MD5_RULE}"
    if len(value) > MD5_MAX:
        return f"is {len(value)} characters long: {MD5_RULE}"
    for c in value:
        if c in _FORBIDDEN or not "!" <= c <= "~":
            what = (_FORBIDDEN.get(c) or ("whitespace" if c.isspace() else
                    f"non-ASCII {c!r}" if ord(c) > 126 else f"control character {c!r}"))
            return f"contains {what}: {MD5_RULE}"
    return None


def check_md5_password(value: str) -> str:
    """``value`` if it is a valid password, else ValueError saying why."""
    problem = md5_password_problem(value)
    if problem is not None:
        raise ValueError(f"MD5 password {problem}")
    return value
