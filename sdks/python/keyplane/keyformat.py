"""The key format of SPEC §2, checked offline (no network, no storage).

    {prefix}_{env}_{secret}{checksum}

- ``prefix``: per deployment (``KEYPLANE_KEY_PREFIX``, default ``kp``), lowercase letters and
  digits; admin tokens use ``{prefix}adm``.
- ``env``: ``live`` or ``test``.
- ``secret``: 32 random bytes as 43 base62 digits, left-padded with ``0``.
- ``checksum``: CRC-32 (IEEE, as zlib) of the UTF-8 text before it, as 6 base62 digits.

Base62 digits are ``0-9A-Za-z`` in that order, most significant first. A string that fails
this check is ``MALFORMED`` for Keyplane too, so the SDK refuses it without asking.
"""

from __future__ import annotations

import hmac
import re
import zlib
from dataclasses import dataclass
from typing import Literal

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SECRET_DIGITS = 43
CHECKSUM_DIGITS = 6
MAX_KEY_LENGTH = 128

_SHAPE = re.compile(r"([a-z0-9]{1,32})_(live|test)_([0-9A-Za-z]{49})")


def to_base62(n: int, width: int) -> str:
    """``n`` (>= 0) in base62, left-padded with ``0`` to ``width`` digits."""
    out = []
    while n > 0:
        n, digit = divmod(n, 62)
        out.append(BASE62[digit])
    return "".join(reversed(out)).rjust(width, "0")


def checksum_of(text: str) -> str:
    """The 6-digit checksum Keyplane appends to ``text`` (CRC-32 IEEE of its UTF-8 bytes)."""
    return to_base62(zlib.crc32(text.encode("utf-8")) & 0xFFFFFFFF, CHECKSUM_DIGITS)


@dataclass(frozen=True)
class ParsedKey:
    prefix: str
    environment: Literal["live", "test"]
    #: prefix, environment and the first 4 secret characters: safe to show and log.
    start: str


def parse_key(value: object) -> ParsedKey | None:
    """The parts of a well-formed key (shape and checksum), else None. Never raises.

    >>> parse_key("kp_live_nope") is None
    True
    """
    if not isinstance(value, str) or len(value) > MAX_KEY_LENGTH:
        return None
    m = _SHAPE.fullmatch(value)
    if m is None:
        return None
    prefix, env, tail = m.group(1), m.group(2), m.group(3)
    given = tail[SECRET_DIGITS:]
    if not hmac.compare_digest(given, checksum_of(value[:-CHECKSUM_DIGITS])):
        return None
    environment: Literal["live", "test"] = "live" if env == "live" else "test"
    return ParsedKey(prefix=prefix, environment=environment, start=f"{prefix}_{env}_{tail[:4]}")


def key_start(value: str) -> str:
    """What may be shown of a string that might be a key: its start, never the secret."""
    parsed = parse_key(value)
    return parsed.start + "…" if parsed else "<malformed key>"
