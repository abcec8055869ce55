"""Keyplane for Python services: a typed admin client (sync and async), key verification with a
local cache, usage metering, and Flask (``keyplane.flask``) and FastAPI (``keyplane.fastapi``)
integrations, imported only when used.

Example::

    from keyplane import Keyplane

    kp = Keyplane("http://127.0.0.1:8080", os.environ["KEYPLANE_ADMIN_TOKEN"])
    created = kp.create_client("Acme Corp", "security@acme.com")
"""

from .client import AsyncKeyplane, Keyplane
from .errors import KeyplaneError
from .keyformat import ParsedKey, checksum_of, key_start, parse_key
from .models import UsageEvent, VerifyResult
from .reporter import UsageReporter
from .verifier import (
    AsyncKeyVerifier,
    Check,
    ClientInfo,
    Denial,
    KeyInfo,
    KeyplaneContext,
    KeyVerifier,
    key_from_headers,
    rate_limit_headers,
)

__all__ = [
    "AsyncKeyVerifier",
    "AsyncKeyplane",
    "Check",
    "ClientInfo",
    "Denial",
    "KeyInfo",
    "KeyVerifier",
    "Keyplane",
    "KeyplaneContext",
    "KeyplaneError",
    "ParsedKey",
    "UsageEvent",
    "UsageReporter",
    "VerifyResult",
    "checksum_of",
    "key_from_headers",
    "key_start",
    "parse_key",
    "rate_limit_headers",
]
__version__ = "0.1.0"
