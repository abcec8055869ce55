"""SPEC §2's key format, checked offline: the SDK refuses a bad checksum without any network call."""

import random

from keyplane import KeyVerifier, checksum_of, key_start, parse_key
from keyplane.keyformat import BASE62, to_base62


def test_keys_issued_by_keyplane_parse_and_their_checksum_matches(new_client, admin):
    c = new_client("format")
    test_key = admin.create_key(c["id"], environment="test")["apiKey"]
    live = parse_key(c["api_key"])
    assert live is not None and live.environment == "live" and live.prefix == "kp"
    assert c["api_key"].startswith(live.start) and len(live.start) == len("kp_live_") + 4
    assert parse_key(test_key).environment == "test"
    body = c["api_key"][:-6]
    assert checksum_of(body) == c["api_key"][-6:]


def test_any_single_character_change_or_garbage_is_refused():
    rng = random.Random(18)
    body = "kp_live_" + "".join(rng.choice(BASE62) for _ in range(43))
    key = body + checksum_of(body)
    assert parse_key(key) is not None
    for i in range(len("kp_live_"), len(key)):
        for c in rng.sample(BASE62, 8):
            if c != key[i]:
                assert parse_key(key[:i] + c + key[i + 1 :]) is None, (i, c)
    for bad in ["", "kp_live_nope", key + "x", key.upper(), "kp_prod_" + key[8:], None, 42, "x" * 500]:
        assert parse_key(bad) is None
    assert key_start("kp_live_nope") == "<malformed key>"


def test_base62_is_most_significant_first_and_left_padded():
    assert to_base62(0, 6) == "000000"
    assert to_base62(61, 2) == "0z"
    assert to_base62(62, 2) == "10"
    assert checksum_of("") == "000000"  # crc32("") == 0


def test_the_verifier_refuses_a_malformed_key_offline():
    # Nothing listens on port 1: a network call would answer 503, not 401.
    verifier = KeyVerifier("http://127.0.0.1:1", "kpadm_live_x")
    check = verifier.check("kp_live_" + "A" * 49)
    assert check.denial is not None
    assert (check.denial.status, check.denial.code, check.denial.message) == (401, "unauthorized", "malformed API key")
    assert verifier.stats.offline == 1 and verifier.stats.remote == 0
    # A well-formed key does go to the network (and fails closed here).
    body = "kp_live_" + "B" * 43
    assert verifier.check(body + checksum_of(body)).denial.status == 503
    assert verifier.stats.remote == 1
