"""Route templates named the way Keyplane's price book names them."""

from __future__ import annotations

import re

_FLASK_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
_STARLETTE_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


def flask_template(rule: str) -> str:
    """``/things/<int:thing_id>`` → ``/things/:thing_id`` (Keyplane's own route syntax, so a
    price book reads the same whichever framework serves the route)."""
    return _FLASK_PARAM.sub(lambda m: ":" + m.group(1), rule)


def starlette_template(path: str) -> str:
    """``/things/{thing_id}`` (or ``{p:path}``) → ``/things/:thing_id``."""
    return _STARLETTE_PARAM.sub(lambda m: ":" + m.group(1), path)
