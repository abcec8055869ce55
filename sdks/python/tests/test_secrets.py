"""Keys and admin tokens never reach exceptions, logs or answers."""

import logging

import pytest

from keyplane import KeyplaneError, KeyVerifier, UsageReporter
from testsupport.apps import flask_app
from testsupport.faults import Fault, fault_proxy


def test_no_key_or_token_in_errors_logs_or_answers(keyplane_server, admin, new_client, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    c = new_client("secret")
    token = keyplane_server.admin_token
    revoked = admin.create_key(c["id"], name="revoked")
    admin.revoke_key(c["id"], revoked["key"]["id"])
    secrets = [c["api_key"], revoked["apiKey"], token]
    seen: list[str] = []

    # Errors from Keyplane, from the network and from a proxy, with secrets in the request.
    with fault_proxy(keyplane_server.url, Fault("POST", "/admin/v1/verify", 503, times=1)) as proxy:
        for url in (proxy.url, "http://127.0.0.1:1"):
            with pytest.raises(KeyplaneError) as caught:
                KeyVerifier(url, token).verify(c["api_key"])
            seen += [str(caught.value), repr(caught.value), caught.value.message]
    with pytest.raises(KeyplaneError) as refused:
        KeyVerifier(keyplane_server.url, c["api_key"]).verify(c["api_key"])  # a client key as admin token
    seen += [str(refused.value), repr(refused.value)]

    # A service's answers for refused keys, and its logs.
    verifier = KeyVerifier(keyplane_server.url, token)
    http = flask_app(verifier, None).test_client()
    for key in secrets:
        seen.append(http.get("/things/1", headers={"x-api-key": key}).get_data(as_text=True))
        seen.append(http.get("/things/1", headers={"authorization": f"Bearer {key}x"}).get_data(as_text=True))

    # The reporter's warnings while Keyplane cannot be reached (its default on_error logs).
    reporter = UsageReporter("http://127.0.0.1:1", token)
    reporter.record(c["id"], c["key_id"], "GET /x", "GET", 200)
    assert not reporter.flush()
    reporter.close(timeout=1)

    out = capsys.readouterr()
    seen += [caplog.text, out.out, out.err]
    assert "keyplane usage report" in caplog.text  # the logs were captured at all
    for text in seen:
        for secret in secrets:
            assert secret not in text
            assert secret[8:] not in text  # not even the secret part alone
