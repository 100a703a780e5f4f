"""HTTPS on a venue LAN: a local certificate authority and a server certificate signed by it.

Off localhost a browser runs service workers and WebCrypto only over HTTPS, and a backstage
network has no internet to obtain a public certificate. So on first `--lan` start the relay
creates its own CA (key kept in the data directory, mode 0600) and issues a server certificate
naming every host name and address it can find (plus any given with --san). Devices trust the
CA once (see /trust); the server certificate is re-issued automatically when the names change
or it nears expiry, without devices having to trust anything again.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_YEARS = 10
SERVER_DAYS = 397  # Apple platforms refuse TLS server certificates valid for longer than 825 days
RENEW_DAYS = 30


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    names: tuple[str, ...]
    addresses: tuple[str, ...]


def local_names_and_addresses(extra: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """Host names and IP addresses this machine answers to, best effort, plus `extra`."""
    names = {"localhost"}
    addresses = {"127.0.0.1", "::1"}
    host = socket.gethostname()
    if host:
        names.update({host, f"{host.split('.')[0]}.local"})
    try:
        for info in socket.getaddrinfo(host, None):
            addresses.add(str(info[4][0]))
    except OSError:
        pass
    for probe in ("10.255.255.255", "192.168.255.255", "172.31.255.255"):
        # Connecting a UDP socket sends nothing; it only asks the OS which local address routes there.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.connect((probe, 9))
                addresses.add(sock.getsockname()[0])
            except OSError:
                continue
    for item in extra:
        try:
            addresses.add(str(ipaddress.ip_address(item)))
        except ValueError:
            names.add(item)
    addresses.discard("0.0.0.0")
    return sorted(names), sorted(addresses)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def ensure_ca(folder: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "ca.pem", folder / "ca.key"
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Openprod local CA ({socket.gethostname()})"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Openprod relay")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=365 * CA_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _sans(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ({str(n) for n in ext.get_values_for_type(x509.DNSName)},
            {str(a) for a in ext.get_values_for_type(x509.IPAddress)})


def ensure_server_cert(folder: Path, names: list[str], addresses: list[str]) -> TlsFiles:
    """The CA (created if missing) and a server certificate for exactly these names and addresses."""
    ca_cert, ca_key = ensure_ca(folder)
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    now = dt.datetime.now(dt.UTC)
    if cert_path.exists() and key_path.exists():
        current = x509.load_pem_x509_certificate(cert_path.read_bytes())
        fresh = current.not_valid_after_utc - now > dt.timedelta(days=RENEW_DAYS)
        if fresh and _sans(current) == (set(names), set(addresses)) and current.issuer == ca_cert.subject:
            return TlsFiles(folder / "ca.pem", cert_path, key_path, tuple(names), tuple(addresses))
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "openprod")]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(
        serialization.Encoding.PEM))
    return TlsFiles(folder / "ca.pem", cert_path, key_path, tuple(names), tuple(addresses))
