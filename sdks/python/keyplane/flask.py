"""Flask integration: ``@require_key(scopes=[...])`` and the app-wide :class:`KeyplaneFlask`.

Example::

    from flask import Flask, g
    from keyplane.flask import KeyplaneFlask, require_key

    app = Flask(__name__)
    KeyplaneFlask(app, base_url=os.environ["KEYPLANE_URL"], admin_token=os.environ["KEYPLANE_ADMIN_TOKEN"])

    @app.post("/api/video/analyze")
    @require_key(scopes=["video"])
    def analyze():
        return {"client": g.keyplane.client.id}
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from flask import Flask, Response, after_this_request, current_app, g, jsonify, request
from flask.typing import ResponseReturnValue

from ._routes import flask_template
from .reporter import UsageReporter
from .verifier import Check, Denial, KeyplaneContext, KeyVerifier, key_from_headers

F = TypeVar("F", bound=Callable[..., Any])

_EXEMPT = "_keyplane_exempt"
_SCOPES = "_keyplane_scopes"
_ENDPOINT = "_keyplane_endpoint"


def _request_id() -> str:
    rid = getattr(g, "keyplane_request_id", None)
    if rid is None:
        rid = request.headers.get("x-request-id") or f"req_{uuid.uuid4().hex}"
        g.keyplane_request_id = rid
    return str(rid)


class KeyplaneFlask:
    """The Keyplane extension of a Flask app: one verifier (one cache) and, when given, one
    usage reporter for every protected route.

    With ``protect_all=True`` every route needs a valid key (except those decorated with
    :func:`exempt`, and static files); otherwise routes opt in with :func:`require_key`.
    Refusals answer in Keyplane's envelope and headers: 401 / 403 / 429 (``Retry-After``,
    ``RateLimit-*``), 503 when Keyplane is unreachable. Each authenticated call is metered as
    ``METHOD /route-template`` (Flask's ``<int:id>`` written ``:id``) with its status.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        verifier: KeyVerifier | None = None,
        reporter: UsageReporter | None = None,
        base_url: str | None = None,
        admin_token: str | None = None,
        protect_all: bool = False,
        scopes: Iterable[str] = (),
        meter: bool = True,
    ) -> None:
        if verifier is None:
            verifier = KeyVerifier(base_url, admin_token)
        if reporter is None and meter and base_url:
            reporter = UsageReporter(base_url, admin_token)
        self.verifier = verifier
        self.reporter = reporter if meter else None
        self.protect_all = protect_all
        self.scopes = tuple(scopes)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        app.extensions["keyplane"] = self
        if self.protect_all:
            app.before_request(self._guard_all)

    def _guard_all(self) -> ResponseReturnValue | None:
        view = current_app.view_functions.get(request.endpoint or "")
        if view is None or request.endpoint == "static" or getattr(view, _EXEMPT, False):
            return None
        # A @require_key view's own scopes and endpoint name are checked here, once.
        scopes = self.scopes + tuple(getattr(view, _SCOPES, ()))
        return self.authenticate(scopes, getattr(view, _ENDPOINT, None))

    def authenticate(self, scopes: Iterable[str], endpoint: str | None) -> Response | None:
        """Checks the current request's key; None when it passed (``g.keyplane`` is set), else
        the refusal to answer."""
        started = time.perf_counter()
        rule = request.url_rule.rule if request.url_rule is not None else request.path
        name = endpoint or f"{request.method} {flask_template(rule)}"
        check: Check = self.verifier.check(
            key_from_headers(request.headers),
            scopes=tuple(scopes),
            ip=request.remote_addr,
            endpoint=name,
        )
        if check.context is None:
            assert check.denial is not None
            return denial_response(check.denial, _request_id())
        g.keyplane = check.context
        headers = check.headers
        reporter = self.reporter
        context = check.context

        def finish(response: Response) -> Response:
            for k, v in headers.items():
                response.headers.setdefault(k, v)
            if reporter is not None:
                reporter.record(
                    context.client.id,
                    context.key.id,
                    name,
                    request.method,
                    response.status_code,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    reservation_id=context.reservation_id,
                )
            return response

        # after_this_request runs for every answer, handled errors and 500s included.
        after_this_request(finish)
        return None


def denial_response(denial: Denial, request_id: str) -> Response:
    response = jsonify(denial.body(request_id))
    response.status_code = denial.status
    for k, v in denial.headers.items():
        response.headers[k] = v
    response.headers.setdefault("x-request-id", request_id)
    return response


def _extension() -> KeyplaneFlask:
    ext = current_app.extensions.get("keyplane")
    if not isinstance(ext, KeyplaneFlask):
        raise RuntimeError("keyplane: KeyplaneFlask(app, ...) must be set up before @require_key")
    return ext


def require_key(scopes: Iterable[str] = (), *, endpoint: str | None = None) -> Callable[[F], F]:
    """Protects one view: a valid key holding every one of ``scopes``, else 401/403/429 in
    Keyplane's envelope. The client and key are on ``flask.g.keyplane``
    (:class:`~keyplane.verifier.KeyplaneContext`). ``endpoint`` names the metered endpoint
    (default ``METHOD /route-template``)."""
    wanted = tuple(scopes)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if getattr(g, "keyplane", None) is None:
                ext = _extension()
                refused = ext.authenticate(ext.scopes + wanted, endpoint)
                if refused is not None:
                    return refused
            return view(*args, **kwargs)

        setattr(wrapper, _SCOPES, wanted)
        setattr(wrapper, _ENDPOINT, endpoint)
        return cast(F, wrapper)

    return decorate


def exempt(view: F) -> F:
    """Leaves a view open when the extension protects every route (``protect_all=True``)."""
    setattr(view, _EXEMPT, True)
    return view
