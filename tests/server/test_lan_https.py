"""The relay on a venue LAN, without a browser: `--lan` serves HTTPS with a certificate from the
relay's own CA; a client that trusts that CA syncs, one that does not is refused by TLS; devices
can fetch the CA (PEM, DER, iOS profile); and guessing an access key runs into the rate limit."""

from __future__ import annotations

import asyncio
import json
import plistlib
import ssl
import time
import urllib.request
import uuid
from pathlib import Path

from cryptography import x509
from relayproc import FilePeer, make_file_peer


def get(url: str, context: ssl.SSLContext | None) -> bytes:
    with urllib.request.urlopen(url, timeout=10, context=context) as response:
        return bytes(response.read())


async def guess(peer: FilePeer, url: str, context: ssl.SSLContext | None, codes: list[str]) -> list[tuple[str, int]]:
    from openprod_server.client import ClientError, RelayClient

    ws = peer.open()
    client = RelayClient(url, ws, ssl_context=context)
    answers = []
    for code in codes:
        try:
            await client.join(code)
            answers.append(("joined", 200))
        except ClientError as exc:
            answers.append((exc.code, exc.status))
    ws.conn.close()
    return answers


def test_lan_https_trust_and_brute_force(relay_factory: object, tmp_path: Path) -> None:
    relay = relay_factory("--lan", "--join-burst", "3", "--join-every", "2", scheme="https")  # type: ignore[operator]
    health = relay.health()
    assert health["tls"] is True
    lan = [u for u in health["urls"] if "127.0.0.1" not in u and "[" not in u]
    if lan:  # reach it the way a tablet would: by the machine's LAN address, not loopback
        relay.host = lan[0].split("://", 1)[1].rsplit(":", 1)[0]
    context = relay.context()
    ca = x509.load_pem_x509_certificate((relay.data / "tls" / "ca.pem").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    # Without trusting the CA, TLS itself refuses the relay.
    try:
        get(f"{relay.url}/healthz", ssl.create_default_context())
        raise AssertionError("an untrusted certificate was accepted")
    except urllib.error.URLError as exc:
        assert "CERTIFICATE_VERIFY_FAILED" in str(exc.reason)

    # Devices fetch the CA three ways.
    assert b"SHA-256 fingerprint" in get(f"{relay.url}/trust", context)
    der = get(f"{relay.url}/trust/ca.crt", context)
    assert x509.load_der_x509_certificate(der) == ca
    profile = plistlib.loads(get(f"{relay.url}/trust/openprod-ca.mobileconfig", context))
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadContent"][0]["PayloadType"] == "com.apple.security.root"
    assert profile["PayloadContent"][0]["PayloadContent"] == der

    alice = make_file_peer(tmp_path, "Alice", 1, owner_of="Touring show")
    ws_id = str(uuid.UUID(bytes=alice.open().workspace_id))
    alice.cli("publish", "--join-mode", "access_key", relay=relay)
    key = json.loads(alice.cli("key", "create", "--expires", "1h", "--max-uses", "2", relay=relay).stdout)
    assert len(key["code"]) == 6 and key["status"] == "active"
    assert json.loads(alice.cli("sync", relay=relay).stdout.splitlines()[-1])["in_sync"]

    # A client that does not trust the CA cannot even start: TLS refuses, not the relay.
    untrusting = alice.cli("sync", "--no-ca", relay=relay, check=False)
    assert untrusting.returncode == 1
    assert "Error: tls:" in untrusting.stderr and "CERTIFICATE_VERIFY_FAILED" in untrusting.stderr

    # Guessing the code: refused, then rate-limited, and every failure is logged.
    bob = make_file_peer(tmp_path, "Bob", 2, workspace_id=uuid.UUID(ws_id).bytes)
    answers = asyncio.run(guess(bob, relay.url, context, ["AAAA22", "BBBB33", "CCCC44", "DDDD55", key["code"]]))
    assert answers[:3] == [("invalid_access_key", 403)] * 3
    assert answers[3:] == [("rate_limited", 429)] * 2, "even the right code waits: no free guesses"
    events = relay.events()
    assert [e["reason"] for e in events if e.get("event") == "join_failed"] == ["unknown_code"] * 3
    assert sum(e.get("event") == "join_rate_limited" for e in events) == 2
    time.sleep(2.1)
    joined = json.loads(bob.cli("join", "--workspace", ws_id, "--code", key["code"].lower(), relay=relay).stdout)
    assert joined == {"workspace": ws_id, "joined": True, "via": "access_key"}  # case-insensitive
    assert json.loads(bob.cli("sync", relay=relay).stdout.splitlines()[-1])["in_sync"]
    assert bob.hash_and_count() == alice.hash_and_count()
    listed = json.loads(alice.cli("key", "list", relay=relay).stdout)
    assert listed["keys"][0]["uses"] == 1 and listed["uses"][0]["actor"] == bob.identity.actor_id.hex()
