"""Typed clients for the admin API calls a service behind Keyplane needs (sync and async)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import httpx

from . import _endpoints as ep
from ._transport import AsyncTransport, SyncTransport, TransportOptions
from .errors import KeyplaneError
from .models import (
    ApiKey,
    ClientWithKeys,
    CreatedClient,
    CreatedKey,
    Invoice,
    Page,
    UsageEvent,
    UsageRecordAnswer,
    UsageSummary,
    VerifyResult,
)


class Keyplane:
    """A typed client for Keyplane's admin API (``/admin/v1``), over httpx.

    Errors are raised as :class:`KeyplaneError` (the error envelope). Network errors and
    502/503/504 are retried with backoff (``retries``, default 2) for GET, PUT and DELETE and
    for usage events (their request ids make a repeat harmless); any other POST is sent once.

    Example::

        kp = Keyplane("http://127.0.0.1:8080", os.environ["KEYPLANE_ADMIN_TOKEN"])
        created = kp.create_client("Acme Corp", "security@acme.com")
        api_key = created["apiKey"]  # shown once: Keyplane keeps only its hash
        kp.revoke_key(created["client"]["id"], created["key"]["id"], reason="leaked")
    """

    def __init__(
        self,
        base_url: str,
        admin_token: str | None,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        retry_delay: float = 0.1,
        http_client: httpx.Client | None = None,
    ) -> None:
        opts = TransportOptions(base_url, admin_token, timeout, max(0, retries), retry_delay)
        self._t = SyncTransport(opts, http_client)

    @property
    def base_url(self) -> str:
        return self._t.opts.base_url

    def close(self) -> None:
        self._t.close()

    def __enter__(self) -> Keyplane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # clients (scopes clients:read / clients:write)
    def create_client(self, name: str, email: str, **extra: Any) -> CreatedClient:
        """A client and its first key; ``apiKey`` is in the answer exactly once."""
        return cast(CreatedClient, self._t.request(ep.create_client(name, email, extra)))

    def list_clients(
        self, *, limit: int | None = None, cursor: str | None = None, status: str | None = None,
        q: str | None = None,
    ) -> Page:
        return cast(Page, self._t.request(ep.list_clients(limit, cursor, status, q)))

    def get_client(self, client_id: str) -> ClientWithKeys:
        return cast(ClientWithKeys, self._t.request(ep.get_client(client_id)))

    def update_client(self, client_id: str, **patch: Any) -> dict[str, Any]:
        return cast(dict[str, Any], self._t.request(ep.update_client(client_id, patch)))

    def suspend_client(self, client_id: str, reason: str | None = None) -> dict[str, Any]:
        """Stops every key of the client at once (reversible)."""
        return cast(dict[str, Any], self._t.request(ep.suspend_client(client_id, reason)))

    def reactivate_client(self, client_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], self._t.request(ep.reactivate_client(client_id)))

    def delete_client(self, client_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], self._t.request(ep.delete_client(client_id)))

    # keys (scopes keys:read / keys:write)
    def create_key(self, client_id: str, **options: Any) -> CreatedKey:
        """Options as the API names them: ``scopes``, ``ipAllowlist``, ``credits``, ``rateLimit``…"""
        return cast(CreatedKey, self._t.request(ep.create_key(client_id, options)))

    def list_keys(self, client_id: str, *, limit: int | None = None, cursor: str | None = None) -> Page:
        return cast(Page, self._t.request(ep.list_keys(client_id, limit, cursor)))

    def get_key(self, client_id: str, key_id: str) -> ApiKey:
        return cast(ApiKey, self._t.request(ep.get_key(client_id, key_id))["key"])

    def revoke_key(self, client_id: str, key_id: str, reason: str | None = None) -> ApiKey:
        return cast(ApiKey, self._t.request(ep.revoke_key(client_id, key_id, reason))["key"])

    def reactivate_key(self, client_id: str, key_id: str) -> ApiKey:
        return cast(ApiKey, self._t.request(ep.reactivate_key(client_id, key_id))["key"])

    def roll_key(
        self, client_id: str, key_id: str, *, grace_period_seconds: int | None = None
    ) -> dict[str, Any]:
        req = ep.roll_key(client_id, key_id, grace_period_seconds)
        return cast(dict[str, Any], self._t.request(req))

    def delete_key(self, client_id: str, key_id: str) -> None:
        self._t.request(ep.delete_key(client_id, key_id))

    # verification (scope verify)
    def verify(
        self, key: str, *, scopes: Iterable[str] | None = None, ip: str | None = None,
        endpoint: str | None = None,
    ) -> VerifyResult:
        """Keyplane's answer for a key. Never retried: it may spend a credit."""
        return VerifyResult.from_json(self._t.request(ep.verify(key, scopes, ip, endpoint)))

    # usage (scopes usage:read / usage:write)
    def record_usage(self, events: Iterable[UsageEvent]) -> UsageRecordAnswer:
        """Meters calls to a service's own endpoints. Safe to retry (request ids)."""
        return cast(UsageRecordAnswer, self._t.request(ep.record_usage(events)))

    def usage(
        self, *, client_id: str | None = None, group_by: str | None = None,
        from_: str | None = None, to: str | None = None,
    ) -> UsageSummary:
        return cast(UsageSummary, self._t.request(ep.usage(client_id, group_by, from_, to)))

    # invoices (scope invoices:read)
    def list_invoices(
        self, *, client_id: str | None = None, period: str | None = None,
        status: str | None = None, limit: int | None = None, cursor: str | None = None,
    ) -> Page:
        req = ep.list_invoices(client_id, period, status, limit, cursor)
        return cast(Page, self._t.request(req))

    def get_invoice(self, invoice_id: str) -> Invoice:
        return cast(Invoice, self._t.request(ep.get_invoice(invoice_id))["invoice"])

    # admin tokens (scope admin)
    def create_admin_token(self, name: str, scopes: Iterable[str] | None = None) -> dict[str, Any]:
        """``{adminToken, token}``: the token is in the answer exactly once."""
        return cast(dict[str, Any], self._t.request(ep.create_admin_token(name, scopes)))

    def healthz(self) -> bool:
        """Liveness (``GET /healthz``, no auth needed)."""
        try:
            self._t.request(ep.healthz())
            return True
        except KeyplaneError:
            return False


class AsyncKeyplane:
    """:class:`Keyplane` for asyncio (httpx.AsyncClient): the same calls, awaited.

    Example::

        async with AsyncKeyplane(url, token) as kp:
            result = await kp.verify(api_key, scopes=["reports:read"])
    """

    def __init__(
        self,
        base_url: str,
        admin_token: str | None,
        *,
        timeout: float = 10.0,
        retries: int = 2,
        retry_delay: float = 0.1,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        opts = TransportOptions(base_url, admin_token, timeout, max(0, retries), retry_delay)
        self._t = AsyncTransport(opts, http_client)

    @property
    def base_url(self) -> str:
        return self._t.opts.base_url

    async def aclose(self) -> None:
        await self._t.aclose()

    async def __aenter__(self) -> AsyncKeyplane:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def create_client(self, name: str, email: str, **extra: Any) -> CreatedClient:
        return cast(CreatedClient, await self._t.request(ep.create_client(name, email, extra)))

    async def list_clients(
        self, *, limit: int | None = None, cursor: str | None = None, status: str | None = None,
        q: str | None = None,
    ) -> Page:
        return cast(Page, await self._t.request(ep.list_clients(limit, cursor, status, q)))

    async def get_client(self, client_id: str) -> ClientWithKeys:
        return cast(ClientWithKeys, await self._t.request(ep.get_client(client_id)))

    async def update_client(self, client_id: str, **patch: Any) -> dict[str, Any]:
        return cast(dict[str, Any], await self._t.request(ep.update_client(client_id, patch)))

    async def suspend_client(self, client_id: str, reason: str | None = None) -> dict[str, Any]:
        return cast(dict[str, Any], await self._t.request(ep.suspend_client(client_id, reason)))

    async def reactivate_client(self, client_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self._t.request(ep.reactivate_client(client_id)))

    async def delete_client(self, client_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self._t.request(ep.delete_client(client_id)))

    async def create_key(self, client_id: str, **options: Any) -> CreatedKey:
        return cast(CreatedKey, await self._t.request(ep.create_key(client_id, options)))

    async def list_keys(
        self, client_id: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Page:
        return cast(Page, await self._t.request(ep.list_keys(client_id, limit, cursor)))

    async def get_key(self, client_id: str, key_id: str) -> ApiKey:
        return cast(ApiKey, (await self._t.request(ep.get_key(client_id, key_id)))["key"])

    async def revoke_key(self, client_id: str, key_id: str, reason: str | None = None) -> ApiKey:
        answer = await self._t.request(ep.revoke_key(client_id, key_id, reason))
        return cast(ApiKey, answer["key"])

    async def reactivate_key(self, client_id: str, key_id: str) -> ApiKey:
        return cast(ApiKey, (await self._t.request(ep.reactivate_key(client_id, key_id)))["key"])

    async def roll_key(
        self, client_id: str, key_id: str, *, grace_period_seconds: int | None = None
    ) -> dict[str, Any]:
        req = ep.roll_key(client_id, key_id, grace_period_seconds)
        return cast(dict[str, Any], await self._t.request(req))

    async def delete_key(self, client_id: str, key_id: str) -> None:
        await self._t.request(ep.delete_key(client_id, key_id))

    async def verify(
        self, key: str, *, scopes: Iterable[str] | None = None, ip: str | None = None,
        endpoint: str | None = None,
    ) -> VerifyResult:
        body = await self._t.request(ep.verify(key, scopes, ip, endpoint))
        return VerifyResult.from_json(body)

    async def record_usage(self, events: Iterable[UsageEvent]) -> UsageRecordAnswer:
        return cast(UsageRecordAnswer, await self._t.request(ep.record_usage(events)))

    async def usage(
        self, *, client_id: str | None = None, group_by: str | None = None,
        from_: str | None = None, to: str | None = None,
    ) -> UsageSummary:
        return cast(UsageSummary, await self._t.request(ep.usage(client_id, group_by, from_, to)))

    async def list_invoices(
        self, *, client_id: str | None = None, period: str | None = None,
        status: str | None = None, limit: int | None = None, cursor: str | None = None,
    ) -> Page:
        req = ep.list_invoices(client_id, period, status, limit, cursor)
        return cast(Page, await self._t.request(req))

    async def get_invoice(self, invoice_id: str) -> Invoice:
        return cast(Invoice, (await self._t.request(ep.get_invoice(invoice_id)))["invoice"])

    async def create_admin_token(
        self, name: str, scopes: Iterable[str] | None = None
    ) -> dict[str, Any]:
        return cast(dict[str, Any], await self._t.request(ep.create_admin_token(name, scopes)))

    async def healthz(self) -> bool:
        try:
            await self._t.request(ep.healthz())
            return True
        except KeyplaneError:
            return False
