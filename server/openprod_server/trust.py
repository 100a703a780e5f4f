"""Helping devices trust the relay's local certificate authority (HTTPS on a venue LAN).

Served on the relay itself, reachable before the CA is trusted by clicking through the
browser's warning once, or over plain HTTP on loopback:

    /trust                          step-by-step instructions (iPad/iPhone, Android, macOS, Windows)
    /trust/ca.pem                   the CA certificate, PEM (macOS, Linux, Firefox)
    /trust/ca.crt                   the CA certificate, DER (Android, Windows)
    /trust/openprod-ca.mobileconfig an iOS/iPadOS configuration profile holding the CA
"""

from __future__ import annotations

import hashlib
import html
import plistlib
import uuid
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from .config import RelayConfig


def ca_path(config: RelayConfig) -> Path:
    return config.data_dir / "tls" / "ca.pem"


def fingerprint(cert: x509.Certificate) -> str:
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def mobileconfig(cert: x509.Certificate) -> bytes:
    """An unsigned configuration profile with one root-certificate payload (com.apple.security.root)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    ident = uuid.uuid5(uuid.NAMESPACE_OID, fingerprint(cert))
    payload = {
        "PayloadCertificateFileName": "openprod-ca.cer",
        "PayloadContent": der,
        "PayloadDescription": "Lets this device trust the Openprod relay on your venue network.",
        "PayloadDisplayName": "Openprod local CA",
        "PayloadIdentifier": f"org.openprod.ca.{ident}.cert",
        "PayloadType": "com.apple.security.root",
        "PayloadUUID": str(uuid.uuid5(ident, "cert")).upper(),
        "PayloadVersion": 1,
    }
    profile = {
        "PayloadContent": [payload],
        "PayloadDescription": "Installs the certificate authority of an Openprod relay.",
        "PayloadDisplayName": "Openprod relay certificate",
        "PayloadIdentifier": f"org.openprod.ca.{ident}",
        "PayloadOrganization": "Openprod",
        "PayloadRemovalDisallowed": False,
        "PayloadType": "Configuration",
        "PayloadUUID": str(ident).upper(),
        "PayloadVersion": 1,
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)


STEPS = """
<h2>iPad and iPhone</h2>
<ol>
<li>Open this page in <b>Safari</b> and tap <a href="/trust/openprod-ca.mobileconfig">Download the profile</a>.
Tap <i>Allow</i>.</li>
<li>Open <b>Settings</b>, tap <i>Profile Downloaded</i> near the top, then <i>Install</i> (enter the passcode)
and <i>Install</i> again.</li>
<li>Go to <b>Settings &gt; General &gt; About &gt; Certificate Trust Settings</b> and switch on
<i>Openprod local CA</i>.</li>
<li>Reload the app at <code>https://</code> this relay's address.</li>
</ol>
<h2>Android</h2>
<ol>
<li>Tap <a href="/trust/ca.crt">Download the certificate</a>.</li>
<li>Open <b>Settings &gt; Security &amp; privacy &gt; More security settings &gt; Encryption &amp; credentials &gt;
Install a certificate &gt; CA certificate</b> (wording varies by maker; search Settings for "CA certificate").</li>
<li>Tap <i>Install anyway</i>, choose the downloaded <code>ca.crt</code>, and confirm with your screen lock.</li>
<li>Reload the app in Chrome.</li>
</ol>
<h2>macOS</h2>
<ol>
<li>Download <a href="/trust/ca.pem">ca.pem</a> and double-click it: Keychain Access opens. Add it to the
<i>System</i> keychain.</li>
<li>Double-click <i>Openprod local CA</i> in the list, open <i>Trust</i>, set <i>When using this certificate</i> to
<i>Always Trust</i>, close the window and enter your password.</li>
<li>Firefox keeps its own list: Settings &gt; Privacy &amp; Security &gt; Certificates &gt; View Certificates &gt;
Authorities &gt; Import, choose <code>ca.pem</code>, tick <i>Trust this CA to identify websites</i>.</li>
</ol>
<h2>Windows</h2>
<ol>
<li>Download <a href="/trust/ca.crt">ca.crt</a> and double-click it, then <i>Install Certificate...</i></li>
<li>Choose <i>Local Machine</i>, then <i>Place all certificates in the following store</i> &gt; <i>Browse</i> &gt;
<i>Trusted Root Certification Authorities</i>, then <i>Next</i> and <i>Finish</i>.</li>
<li>Restart the browser and reload the app.</li>
</ol>
<p>Before trusting, check that the fingerprint your device shows matches the one above: that proves the file came
from this relay and not from someone else on the network. Remove the certificate when the production ends.</p>
"""


def routes(config: RelayConfig) -> list[Route]:
    def load() -> x509.Certificate | None:
        path = ca_path(config)
        return x509.load_pem_x509_certificate(path.read_bytes()) if config.tls and path.exists() else None

    def missing() -> PlainTextResponse:
        return PlainTextResponse("this relay does not serve HTTPS, so it has no certificate authority to trust\n",
                                 status_code=404)

    async def page(request: Request) -> Response:
        cert = load()
        if cert is None:
            return missing()
        body = (f"<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
                f"<title>Trust this Openprod relay</title><h1>Trust this Openprod relay</h1>"
                f"<p>This relay serves HTTPS with its own certificate authority, made on this machine for this "
                f"venue network. Each device trusts it once.</p>"
                f"<p>Certificate: <b>{html.escape(cert.subject.rfc4514_string())}</b><br>"
                f"SHA-256 fingerprint: <code>{fingerprint(cert)}</code></p>{STEPS}")
        return HTMLResponse(body)

    def download(kind: str) -> Any:
        async def handler(request: Request) -> Response:
            cert = load()
            if cert is None:
                return missing()
            if kind == "pem":
                return Response(cert.public_bytes(serialization.Encoding.PEM), media_type="application/x-pem-file",
                                headers={"Content-Disposition": "attachment; filename=openprod-ca.pem"})
            if kind == "der":
                return Response(cert.public_bytes(serialization.Encoding.DER), media_type="application/x-x509-ca-cert",
                                headers={"Content-Disposition": "attachment; filename=openprod-ca.crt"})
            return Response(mobileconfig(cert), media_type="application/x-apple-aspen-config",
                            headers={"Content-Disposition": "attachment; filename=openprod-ca.mobileconfig"})
        return handler

    return [Route("/trust", page), Route("/trust/ca.pem", download("pem")), Route("/trust/ca.crt", download("der")),
            Route("/trust/openprod-ca.mobileconfig", download("profile"))]
