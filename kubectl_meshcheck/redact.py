"""Never print a secret: redaction for anything taken from env vars, args, commands or URLs.

Used wherever such text can reach the user (messages, ``args``, views, fixes). The rule is
conservative: a credential-looking part is replaced by ``****`` and the rest is kept, so the user
still sees which host and database are meant (``postgres://app:****@db.example.com:5432/app``).
Values of env vars whose *name* looks secret (``*PASSWORD*``, ``*TOKEN*``, ``*SECRET*``, ``*KEY*``,
DSNs, credentials) are replaced whole. Values from Secrets are never read at all (DESIGN.md §6).
"""

from __future__ import annotations

import functools

import re
from collections.abc import Iterable

MASK = "****"

#: substrings of env var / flag names whose values are secrets (case-insensitive)
SECRET_NAME_PARTS = ("PASSWORD", "PASSWD", "PASSPHRASE", "PWD", "TOKEN", "SECRET", "KEY", "DSN", "CREDENTIAL",
                     "AUTH", "PRIVATE", "COOKIE", "SESSION", "SIGNATURE", "CERT")
_SECRET_NAME = re.compile("|".join(SECRET_NAME_PARTS), re.I)
# scheme://user:password@  or  scheme://token@   (userinfo ends at the last @ before the host)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<info>[^\s/?#@'\"]+)@")
# password=..., api_key=..., token=... in query strings, JDBC properties, key=value args and shell lines
_WORDS = "|".join(p.lower() for p in SECRET_NAME_PARTS)
_KV = re.compile(rf"(?P<key>[A-Za-z0-9_.\-]*(?:{_WORDS})[A-Za-z0-9_.\-]*)(?P<sep>\s*=\s*|:\s+)(?P<val>[^\s&;,'\"]+)",
                 re.I)
# Authorization: Bearer xxx / Basic xxx
_BEARER = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=\-]{6,}", re.I)


def is_secret_name(name: str | None) -> bool:
    """Does an env var or flag name say its value is a secret?"""
    return bool(name) and bool(_SECRET_NAME.search(name or ""))


def _userinfo(m: re.Match) -> str:
    info = m.group("info")
    if ":" in info:
        user = info.split(":", 1)[0]
        return f"{m.group('scheme')}{user}:{MASK}@"
    return f"{m.group('scheme')}{MASK}@"


@functools.lru_cache(maxsize=16384)  # the same values recur across replicas of one chart
def redact(text: str | None) -> str:
    """Free text with every credential-looking part masked (URL userinfo, ``password=``, bearer tokens)."""
    if not text:
        return text or ""
    out = _USERINFO.sub(_userinfo, str(text))
    out = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", out)
    out = _KV.sub(lambda m: m.group("key") + m.group("sep") + (m.group("val") if m.group("val") == MASK else MASK),
                  out)
    return out


def redact_env(name: str | None, value: str | None) -> str:
    """An env var's value as it may be shown: masked whole when the name looks secret."""
    if value is None:
        return ""
    return MASK if is_secret_name(name) else redact(value)


def redact_args(args: Iterable[str]) -> list[str]:
    """A command or args list as it may be shown: ``--password x`` masks ``x`` too."""
    out: list[str] = []
    mask_next = False
    for a in args:
        a = str(a)
        if mask_next and not a.startswith("-"):
            out.append(MASK)
            mask_next = False
            continue
        mask_next = a.startswith("-") and "=" not in a and is_secret_name(a.lstrip("-"))
        out.append(redact(a))
    return out
