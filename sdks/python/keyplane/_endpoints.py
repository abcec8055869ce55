"""Every admin call the SDK makes, written once as a Request; the sync and async clients send them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._transport import Request, seg
from .models import UsageEvent

A = "/admin/v1"


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def create_client(name: str, email: str, extra: Mapping[str, Any]) -> Request:
    return Request("POST", f"{A}/clients", body={"name": name, "email": email, **extra})


def list_clients(limit: int | None, cursor: str | None, status: str | None, q: str | None) -> Request:
    return Request(
        "GET", f"{A}/clients", query={"limit": limit, "cursor": cursor, "status": status, "q": q}
    )


def get_client(client_id: str) -> Request:
    return Request("GET", f"{A}/clients/{seg(client_id)}")


def update_client(client_id: str, patch: Mapping[str, Any]) -> Request:
    return Request("PATCH", f"{A}/clients/{seg(client_id)}", body=dict(patch))


def suspend_client(client_id: str, reason: str | None) -> Request:
    return Request(
        "POST", f"{A}/clients/{seg(client_id)}/suspend", body=_without_none({"reason": reason})
    )


def reactivate_client(client_id: str) -> Request:
    return Request("POST", f"{A}/clients/{seg(client_id)}/reactivate", body={})


def delete_client(client_id: str) -> Request:
    return Request("DELETE", f"{A}/clients/{seg(client_id)}")


def create_key(client_id: str, options: Mapping[str, Any]) -> Request:
    return Request("POST", f"{A}/clients/{seg(client_id)}/keys", body=dict(options))


def list_keys(client_id: str, limit: int | None, cursor: str | None) -> Request:
    return Request(
        "GET", f"{A}/clients/{seg(client_id)}/keys", query={"limit": limit, "cursor": cursor}
    )


def _key(client_id: str, key_id: str) -> str:
    return f"{A}/clients/{seg(client_id)}/keys/{seg(key_id)}"


def get_key(client_id: str, key_id: str) -> Request:
    return Request("GET", _key(client_id, key_id))


def revoke_key(client_id: str, key_id: str, reason: str | None) -> Request:
    return Request("POST", _key(client_id, key_id) + "/revoke", body=_without_none({"reason": reason}))


def reactivate_key(client_id: str, key_id: str) -> Request:
    return Request("POST", _key(client_id, key_id) + "/reactivate", body={})


def roll_key(client_id: str, key_id: str, grace_period_seconds: int | None) -> Request:
    body = _without_none({"gracePeriodSeconds": grace_period_seconds})
    return Request("POST", _key(client_id, key_id) + "/roll", body=body)


def delete_key(client_id: str, key_id: str) -> Request:
    return Request("DELETE", _key(client_id, key_id), expect="none")


def verify(key: str, scopes: Iterable[str] | None, ip: str | None, endpoint: str | None) -> Request:
    # Never retried: a verification may spend a credit or a rate-limit slot.
    body = _without_none(
        {"key": key, "scopes": list(scopes) if scopes else None, "ip": ip, "endpoint": endpoint}
    )
    return Request("POST", f"{A}/verify", body=body)


def record_usage(events: Iterable[UsageEvent]) -> Request:
    # Safe to retry: each event's requestId is counted once.
    return Request(
        "POST", f"{A}/usage/events", body={"events": [e.to_json() for e in events]}, retry=True
    )


def usage(
    client_id: str | None, group_by: str | None, from_: str | None, to: str | None
) -> Request:
    query = {"clientId": client_id, "groupBy": group_by, "from": from_, "to": to}
    return Request("GET", f"{A}/usage", query=query)


def list_invoices(
    client_id: str | None,
    period: str | None,
    status: str | None,
    limit: int | None,
    cursor: str | None,
) -> Request:
    query = {"clientId": client_id, "period": period, "status": status, "limit": limit, "cursor": cursor}
    return Request("GET", f"{A}/invoices", query=query)


def get_invoice(invoice_id: str) -> Request:
    return Request("GET", f"{A}/invoices/{seg(invoice_id)}")


def create_admin_token(name: str, scopes: Iterable[str] | None) -> Request:
    body = _without_none({"name": name, "scopes": list(scopes) if scopes else None})
    return Request("POST", f"{A}/admin-tokens", body=body)


def healthz() -> Request:
    return Request("GET", "/healthz")
