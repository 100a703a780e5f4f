"""The `openprod` command: run the relay, and use it from a terminal.

    openprod serve --data DIR [--host 127.0.0.1] [--port 8765] [--lan] ...
    openprod identity create --out me.json --name "Sam"
    openprod init    --db show.db --identity me.json --name "Hamlet"
    openprod publish --db show.db --identity me.json [--join-mode open|access_key]
    openprod join    --db show.db --identity me.json --workspace ID [--code K7X9QP]
    openprod sync    --db show.db --identity me.json [--transport websocket|webrtc] [--watch]
    openprod key create|list|revoke ...   openprod join-mode open|access_key ...
    openprod info    --db show.db --identity me.json
    openprod script run --db show.db --identity me.json renumber.lua [--arg from=1 ...] [--commit]
    openprod script list --db show.db --identity me.json     (run a listed one by its id: module:renumber_cues)
    openprod export|import|inspect ...   (backups, CSV, recovery work: cli_lifecycle.py)

click (pinned) because it gives subcommands, typed options and one-line `Error: ...` messages
for free, and uvicorn already depends on it. Errors a user can fix are one line on stderr and
exit status 1; sync progress is printed as JSON lines on stdout. Every option can also be set in
the environment: OPENPROD_<COMMAND>_<OPTION>, e.g. OPENPROD_SERVE_AUTH_TIMEOUT=5 (handy for a
service manager).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import json
import os
import socket
import ssl
import sys
import uuid
from pathlib import Path
from typing import Any

import click

from openprod import Env, Identity, Workspace, connect
from openprod.errors import OpenprodError

DEFAULT_RELAY = "http://127.0.0.1:8765"


def _emit(payload: dict[str, Any]) -> None:
    click.echo(json.dumps(payload, default=str))


# --- serve --------------------------------------------------------------------------------------


def _check_data_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise click.ClickException(f"cannot write to data directory {path} ({exc.strerror or exc}); "
                                   "choose another with --data") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say so,
    # and a small message held back for a delayed acknowledgement costs 40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise click.ClickException(f"port {port} on {host} is already in use (another relay?); stop it or "
                                       "choose another port with --port") from None
        raise click.ClickException(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@click.group()
def main() -> None:
    """Openprod: a local-first workspace for production teams. This command runs and uses the relay."""


@main.command()
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=Path("data"), show_default=True,
              help="Data directory: one SQLite file per workspace, the relay's records and its TLS files.")
@click.option("--host", default=None, help="Address to listen on [default: 127.0.0.1; 0.0.0.0 with --lan].")
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--lan", is_flag=True, help="Serve the venue network: listen beyond loopback, over HTTPS with a "
              "local certificate authority created on first run (see /trust).")
@click.option("--tls/--no-tls", "tls", default=None, help="HTTPS on or off [default: on with --lan].")
@click.option("--san", multiple=True, help="Extra host name or address for the server certificate (repeatable).")
@click.option("--web", "web_dir", type=click.Path(path_type=Path), default=None,
              help="Built web app to serve [default: build/web in the repository].")
@click.option("--stun", multiple=True, help="STUN server URL offered to WebRTC peers (repeatable).")
@click.option("--turn", default=None, help="TURN server URL offered to WebRTC peers.")
@click.option("--turn-user", default=None)
@click.option("--turn-password", default=None)
@click.option("--rtc-address", multiple=True, help="Only offer these local addresses as WebRTC host candidates.")
@click.option("--join-burst", default=5, show_default=True, help="Access-key join attempts per client at once.")
@click.option("--join-every", default=12.0, show_default=True, help="Seconds per further attempt, per client.")
@click.option("--publish-burst", default=10, show_default=True, help="Publish requests per client at once.")
@click.option("--publish-every", default=60.0, show_default=True, help="Seconds per further publish, per client.")
@click.option("--publisher", "publishers", multiple=True,
              help="Only this identity (actor id, 64 hex digits) may publish; repeatable [default: anyone].")
@click.option("--publishers-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="A file of identities allowed to publish, one actor id per line (# comments).")
@click.option("--max-body", default=1024 * 1024, show_default=True, help="Largest HTTP request body, in bytes.")
@click.option("--header-timeout", default=10.0, show_default=True, help="Seconds for a request's headers to arrive.")
@click.option("--auth-timeout", default=10.0, show_default=True,
              help="Seconds to authenticate on a sync or signalling socket.")
@click.option("--send-timeout", default=30.0, show_default=True,
              help="Seconds a peer may read nothing while the relay sends, before it is dropped.")
@click.option("--keepalive", default=20.0, show_default=True,
              help="Seconds between WebSocket pings; a peer that answers none within as long again is dropped.")
@click.option("--max-connections-per-address", default=64, show_default=True,
              help="Open connections from one client address (an IPv6 /64).")
@click.option("--max-connections", default=2000, show_default=True, help="Open connections in all.")
@click.option("--trust-proxy", multiple=True,
              help="Address of a reverse proxy whose X-Forwarded-For is believed (repeatable) [default: none].")
@click.option("--idle-close", default=300.0, show_default=True,
              help="Seconds without a session after which a workspace file is closed.")
@click.option("--max-open-workspaces", default=64, show_default=True, help="Workspace files open at once.")
@click.option("--rtc-pending-timeout", default=30.0, show_default=True,
              help="Seconds for a WebRTC connection to the relay to connect before it is dropped.")
@click.option("--future-drift-cap", default=3600.0, show_default=True,
              help="The relay's ceiling, in seconds, on how far ahead a bundle's clock may be.")
@click.option("--sqlite-memory-mib", default=256, show_default=True,
              help="SQLite's memory for all open workspace files together (a soft limit: past it, cached pages "
              "are reused).")
@click.option("--max-failures-kept", default=10_000, show_default=True,
              help="Failed join attempts kept per workspace for the owner's audit (none older than 30 days).")
@click.option("--max-parked-per-author", default=1_000, show_default=True,
              help="Received bundles waiting for earlier ones, per author and workspace.")
@click.option("--max-parked", default=10_000, show_default=True,
              help="Received bundles waiting for earlier ones, per workspace.")
@click.option("--max-parked-mib", default=64, show_default=True,
              help="Their size, per workspace, in MiB.")
@click.option("--parked-max-age", default=86_400.0, show_default=True,
              help="Seconds a received bundle may wait for earlier ones before it is dropped.")
@click.option("--peer", "peers", multiple=True, help="Another relay's base URL to sync the workspaces both host "
              "(repeatable); the fallback where mDNS does not reach.")
@click.option("--mdns", is_flag=True, help="Advertise this relay on the LAN (mDNS, _openprod._tcp.local.) and find "
              "other relays there, syncing the workspaces both host.")
@click.option("--mdns-interface", multiple=True, help="IPv4 address for mDNS (repeatable) [default: all].")
@click.option("--peer-every", default=5.0, show_default=True, help="Seconds between syncs with LAN peers.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def serve(data_dir: Path, host: str | None, port: int, lan: bool, tls: bool | None, san: tuple[str, ...],
          web_dir: Path | None, stun: tuple[str, ...], turn: str | None, turn_user: str | None,
          turn_password: str | None, rtc_address: tuple[str, ...], join_burst: int, join_every: float,
          publish_burst: int, publish_every: float, publishers: tuple[str, ...], publishers_file: Path | None,
          max_body: int, header_timeout: float, auth_timeout: float, send_timeout: float, keepalive: float,
          max_connections_per_address: int, max_connections: int, trust_proxy: tuple[str, ...], idle_close: float,
          max_open_workspaces: int, sqlite_memory_mib: int, rtc_pending_timeout: float, future_drift_cap: float,
          max_failures_kept: int, max_parked_per_author: int, max_parked: int, max_parked_mib: int,
          parked_max_age: float, peers: tuple[str, ...], mdns: bool, mdns_interface: tuple[str, ...], peer_every: float,
          log_level: str) -> None:
    """Run the relay: the web app, WebSocket sync, WebRTC signalling, and an always-on peer."""
    import uvicorn

    from openprod import ParkingLimits
    from openprod.sync import SessionConfig

    from . import logs
    from .app import WS_MAX_MESSAGE, create_app
    from .config import DRAIN_STEP, REPO_WEB, IceServer, RelayConfig
    from .guard import ConnectionGuard
    from .ratelimit import Rate
    from .registry import RegistryDamaged
    from .tls import ensure_server_cert, local_names_and_addresses

    host = host or ("0.0.0.0" if lan else "127.0.0.1")
    if not _is_loopback(host) and not lan:
        raise click.ClickException(f"listening on {host} reaches beyond this machine; add --lan to do that "
                                   "(it serves HTTPS with the relay's own certificate authority)")
    use_tls = lan if tls is None else tls
    data_dir = data_dir.resolve()
    _check_data_dir(data_dir)
    sock = _bind(host, port)
    port = sock.getsockname()[1]
    scheme = "https" if use_tls else "http"
    names, addresses = local_names_and_addresses(san)
    if _is_loopback(host):
        shown = ["127.0.0.1" if host != "::1" else "[::1]"]
    elif host in ("0.0.0.0", "::"):
        shown = [a if ":" not in a else f"[{a}]" for a in addresses if a not in ("::1",)]
    else:
        shown = [host]
    urls = [f"{scheme}://{a}:{port}/" for a in shown]
    ssl_files: dict[str, Any] = {}
    if use_tls:
        files = ensure_server_cert(data_dir / "tls", names, addresses)
        ssl_files = {"ssl_certfile": str(files.server_cert), "ssl_keyfile": str(files.server_key)}
    ice = [IceServer(urls=u) for u in stun]
    if turn:
        ice.append(IceServer(urls=turn, username=turn_user, credential=turn_password))
    allowed = _publishers(publishers, publishers_file)
    try:
        parking = ParkingLimits(per_author=max_parked_per_author, per_workspace=max_parked,
                                max_bytes=max_parked_mib * 1024 * 1024, max_age_ms=int(parked_max_age * 1000),
                                drain_step=DRAIN_STEP)
    except ValueError as exc:
        raise click.ClickException(f"{exc}; the parked-bundle limits must be positive") from None
    config = RelayConfig(data_dir=data_dir, host=host, port=port, lan=lan, tls=use_tls, san=san,
                         web_dir=web_dir or REPO_WEB, ice_servers=tuple(ice), rtc_addresses=rtc_address,
                         join_rate_client=Rate(burst=join_burst, every_ms=int(join_every * 1000)),
                         publish_rate_client=Rate(burst=publish_burst, every_ms=int(publish_every * 1000)),
                         publishers=allowed, max_body=max_body, header_timeout_s=header_timeout,
                         auth_timeout_s=auth_timeout, send_timeout_s=send_timeout,
                         max_connections_per_address=max_connections_per_address, max_connections=max_connections,
                         trusted_proxies=trust_proxy, idle_close_s=idle_close, max_open_workspaces=max_open_workspaces,
                         sqlite_memory_mib=sqlite_memory_mib,
                         rtc_pending_timeout_s=rtc_pending_timeout,
                         max_future_drift_cap_ms=int(future_drift_cap * 1000), max_failures_kept=max_failures_kept,
                         parking=parking,
                         session=SessionConfig(handshake_timeout_ms=int(auth_timeout * 1000)), log_level=log_level,
                         lan_peers=tuple(p.rstrip("/") for p in peers), mdns=mdns, mdns_interfaces=mdns_interface,
                         lan_peer_every_s=peer_every)
    log_config = logs.setup(log_level)
    _raise_file_limit(max_connections)
    guard = ConnectionGuard(per_address=max_connections_per_address, total=max_connections,
                            header_timeout_s=header_timeout, send_timeout_s=send_timeout, trusted_proxies=trust_proxy)
    http_protocol, ws_protocol = guard.protocols()
    try:
        app = create_app(config, urls=urls, guard=guard)
    except RegistryDamaged as exc:
        raise click.ClickException(
            f"the relay's records ({data_dir / 'relay.db'}) are damaged: {exc}. Restore relay.db from a backup, or "
            "move it aside to start with empty records (owners publish again, members join again); see "
            "docs/relay.md, 'Damaged files'") from None
    except (OpenprodError, ValueError) as exc:
        raise click.ClickException(f"the relay's identity ({data_dir / 'relay-identity.json'}) cannot be read: "
                                   f"{exc}") from None
    # X-Forwarded-For is believed only from proxies named with --trust-proxy (uvicorn would trust loopback).
    server = uvicorn.Server(uvicorn.Config(app, log_config=log_config, access_log=False, ws_max_size=WS_MAX_MESSAGE,
                                           http=http_protocol, ws=ws_protocol, proxy_headers=bool(trust_proxy),
                                           forwarded_allow_ips=list(trust_proxy) or None,
                                           lifespan="on", timeout_graceful_shutdown=3,
                                           ws_ping_interval=keepalive, ws_ping_timeout=keepalive,
                                           # No per-message compression: it cost the relay a third of its CPU
                                           # under load (every forwarded frame deflated once per session); the
                                           # price is 2.6x the bytes on the wire (docs/relay.md, "Under load").
                                           ws_per_message_deflate=False, **ssl_files))
    logs.log("listening", urls=urls, host=host, port=port, tls=use_tls)
    server.run(sockets=[sock])


def _publishers(given: tuple[str, ...], path: Path | None) -> frozenset[bytes] | None:
    """The identities allowed to publish (None: anyone), from --publisher and --publishers-file."""
    if not given and path is None:
        return None
    lines = list(given)
    if path is not None:
        lines += [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    allowed = set()
    for text in (line for line in lines if line):
        try:
            actor = bytes.fromhex(text)
        except ValueError:
            actor = b""
        if len(actor) != 32:
            raise click.ClickException(f"{text!r} is not an actor id (64 hex digits, as `openprod identity create` "
                                       "prints)")
        allowed.add(actor)
    return frozenset(allowed)


def _raise_file_limit(connections: int) -> None:
    """Let the process hold every connection it accepts plus its files (the soft limit is often 1024)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 512
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


# --- the client side ----------------------------------------------------------------------------


def _identity(path: Path) -> Identity:
    try:
        return Identity.from_json(path.read_text())
    except FileNotFoundError:
        raise click.ClickException(f"no identity file at {path}; create one with `openprod identity create`") from None
    except OpenprodError as exc:
        raise click.ClickException(f"identity file {path}: {exc}") from None


def _env(identity: Identity) -> Env:
    from openprod.signer_nacl import NaclSigner, NaclVerifier

    return Env(signer=NaclSigner(identity), verifier=NaclVerifier(), display_name=identity.display_name)


def _open(db: Path, identity_path: Path) -> Workspace:
    if not db.exists():
        raise click.ClickException(f"no workspace file at {db}; create one with `openprod init` or `openprod join`")
    try:
        return Workspace.open(connect(str(db)), _env(_identity(identity_path)))
    except OpenprodError as exc:
        raise click.ClickException(f"{db}: {exc}") from None


def _ssl(ca: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca is not None:
        context.load_verify_locations(cafile=str(ca))
    return context


def _client(relay: str, ws: Workspace, ca: Path | None) -> Any:
    from .client import RelayClient

    return RelayClient(relay, ws, ssl_context=_ssl(ca) if relay.startswith("https") else None)


def _run(coro: Any) -> Any:
    from .client import ClientError

    try:
        return asyncio.run(coro)
    except ClientError as exc:
        raise click.ClickException(f"{exc.code}: {exc.detail}") from None


db_option = click.option("--db", type=click.Path(path_type=Path), required=True, help="The local workspace file.")
identity_option = click.option("--identity", "identity_path", type=click.Path(path_type=Path), required=True,
                               help="Your identity file (from `openprod identity create`).")
relay_option = click.option("--relay", default=DEFAULT_RELAY, show_default=True, help="The relay's base URL.")
ca_option = click.option("--ca", type=click.Path(path_type=Path, exists=True), default=None,
                         help="CA certificate to trust for an https relay (its /trust/ca.pem).")


@main.group()
def identity() -> None:
    """Your identity: an Ed25519 key pair that signs everything you change."""


@identity.command("create")
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--name", required=True, help="Your name as others will see it beside your changes.")
def identity_create(out: Path, name: str) -> None:
    from openprod.signer_nacl import generate_identity

    if out.exists():
        raise click.ClickException(f"{out} already exists; not overwriting an identity")
    created = generate_identity(name)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(created.to_json())
    _emit({"identity": str(out), "actor": created.actor_id.hex(), "name": created.display_name})


@main.command()
@db_option
@identity_option
@click.option("--name", required=True, help="The workspace's name.")
@click.option("--module", "modules", multiple=True, help="Starter module to adopt (repeatable), e.g. contacts.")
def init(db: Path, identity_path: Path, name: str, modules: tuple[str, ...]) -> None:
    """Create a new workspace in a new file, owned by you; prints its recovery words once."""
    from openprod.starter import starter_manifests

    from .recovery import new_secret, public_key, words_for

    if db.exists():
        raise click.ClickException(f"{db} already exists")
    manifests = starter_manifests()
    unknown = [m for m in modules if m not in manifests]
    if unknown:
        raise click.ClickException(f"unknown module(s) {unknown}; choose from {sorted(manifests)}")
    env = _env(_identity(identity_path))
    ws, tx = Workspace.founding(connect(str(db)), env, name)
    secret = new_secret()
    try:
        tx.set_setting("recovery_key", public_key(ws.workspace_id, secret).hex())
    except BaseException:
        ws.abort()
        raise
    ws.finish(tx)
    if modules:
        with ws.transaction(kind="module") as tx:
            for module in modules:
                tx.adopt_module(manifests[module])
    _emit({"workspace": str(uuid.UUID(bytes=ws.workspace_id)), "db": str(db), "recovery_words": words_for(secret),
           "note": RECOVERY_NOTE})


RECOVERY_NOTE = ("Write the 12 recovery words down and keep them somewhere safe: whoever has them can make "
                 "themselves this workspace's owner (openprod recover). They are not shown again.")


@main.command()
@db_option
@identity_option
def info(db: Path, identity_path: Path) -> None:
    """Show the workspace id, your actor, the bundle count and the state hash."""
    ws = _open(db, identity_path)
    count = ws.oplog.size().bundles
    _emit({"workspace": str(uuid.UUID(bytes=ws.workspace_id)), "actor": ws.actor_id.hex(), "bundles": count,
           "state_hash": ws.state_hash(), "owner": ws.settings.owner.hex() if ws.settings.owner else None})


@main.command()
@db_option
@identity_option
@relay_option
@ca_option
@click.option("--join-mode", type=click.Choice(["open", "access_key", "request"]), default="open", show_default=True)
def publish(db: Path, identity_path: Path, relay: str, ca: Path | None, join_mode: str) -> None:
    """Host a workspace you created on a relay (you must be its owner)."""
    ws = _open(db, identity_path)
    _emit(_run(_client(relay, ws, ca).publish(join_mode)))


@main.command()
@db_option
@identity_option
@relay_option
@ca_option
@click.option("--workspace", "workspace_id", required=True, help="The workspace id to join.")
@click.option("--code", default=None, help="The access key, if the workspace needs one.")
@click.option("--name", default=None, help="In request mode: your name, as the owner will see it [default: your "
              "identity's name].")
def join(db: Path, identity_path: Path, relay: str, ca: Path | None, workspace_id: str, code: str | None,
         name: str | None) -> None:
    """Join a workspace hosted on a relay (creating an empty local file for it if needed)."""
    try:
        ws_bytes = uuid.UUID(workspace_id).bytes
    except ValueError:
        raise click.ClickException(f"{workspace_id!r} is not a workspace id") from None
    try:
        ws = Workspace.join(connect(str(db)), _env(_identity(identity_path)), ws_bytes)
    except OpenprodError as exc:
        raise click.ClickException(f"{db}: {exc}") from None
    _emit(_run(_client(relay, ws, ca).join(code, name if name is not None else ws.display_name)))


def _event_json(event: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"event": type(event).__name__}
    for name in getattr(event, "__slots__", ()):
        value = getattr(event, name)
        if isinstance(value, bytes):
            value = value.hex()
        if not isinstance(value, dict):
            out[name] = value
    return out


@main.command()
@db_option
@identity_option
@relay_option
@ca_option
@click.option("--transport", type=click.Choice(["websocket", "webrtc"]), default="websocket", show_default=True)
@click.option("--watch", is_flag=True, help="Keep syncing (live) and reconnect after drops, instead of stopping once "
              "in sync.")
@click.option("--retries", default=0, show_default=True, help="Reconnect this many times after a dropped connection.")
@click.option("--rtc-address", multiple=True, help="Only offer these local addresses as WebRTC host candidates.")
def sync(db: Path, identity_path: Path, relay: str, ca: Path | None, transport: str, watch: bool, retries: int,
         rtc_address: tuple[str, ...]) -> None:
    """Sync a local workspace file with a relay; prints progress as JSON lines."""
    from .client import ClientError

    if rtc_address:
        from .rtc import restrict_host_addresses

        restrict_host_addresses(rtc_address)
    ws = _open(db, identity_path)
    client = _client(relay, ws, ca)

    async def run() -> Any:
        attempts = 0
        while True:
            try:
                report = await client.sync(transport=transport, until_in_sync=not watch,
                                           on_event=lambda e: _emit(_event_json(e)))
            except ClientError as exc:
                if exc.code == "tls" or (attempts >= retries and not watch):
                    raise
                _emit({"event": "retry", "reason": exc.code, "detail": exc.detail})
            else:
                if report.in_sync and not watch:
                    return report
                if report.closed_reason not in ("closed", "timeout") or (attempts >= retries and not watch):
                    return report
                _emit({"event": "retry", "reason": report.closed_reason, "detail": report.closed_detail})
            attempts += 1
            await asyncio.sleep(min(5.0, 0.25 * 2 ** min(attempts, 5)))

    report = _run(run())
    _emit({"event": "done", **report.to_json()})
    if not report.in_sync:
        click.echo(f"Error: not in sync: {report.closed_reason}: {report.closed_detail}", err=True)
        sys.exit(1)


@main.group()
def key() -> None:
    """Access keys (workspace owner only): short codes that let others join."""


@key.command("create")
@db_option
@identity_option
@relay_option
@ca_option
@click.option("--expires", default="2h", show_default=True, help="Lifetime, e.g. 30m, 2h, 7d.")
@click.option("--max-uses", type=int, default=None, help="How many people may use it [default: unlimited].")
@click.option("--length", type=int, default=None,
              help="Characters in the code, 6 to 8 [default: 6; 8 for a key valid more than a day].")
def key_create(db: Path, identity_path: Path, relay: str, ca: Path | None, expires: str, max_uses: int | None,
               length: int | None) -> None:
    from .accesskeys import parse_duration

    try:
        lifetime = parse_duration(expires)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    ws = _open(db, identity_path)
    args: dict[str, Any] = {"expires_in_ms": lifetime, "max_uses": max_uses}
    if length is not None:
        args["length"] = length
    _emit(_run(_client(relay, ws, ca).request("create_key", args)))


@key.command("list")
@db_option
@identity_option
@relay_option
@ca_option
def key_list(db: Path, identity_path: Path, relay: str, ca: Path | None) -> None:
    ws = _open(db, identity_path)
    _emit(_run(_client(relay, ws, ca).request("list_keys")))


@key.command("revoke")
@db_option
@identity_option
@relay_option
@ca_option
@click.argument("code")
def key_revoke(db: Path, identity_path: Path, relay: str, ca: Path | None, code: str) -> None:
    ws = _open(db, identity_path)
    _emit(_run(_client(relay, ws, ca).request("revoke_key", {"code": code})))


@main.command("join-mode")
@db_option
@identity_option
@relay_option
@ca_option
@click.argument("mode", type=click.Choice(["open", "access_key", "request"]))
def join_mode(db: Path, identity_path: Path, relay: str, ca: Path | None, mode: str) -> None:
    """Set how others join this workspace on the relay (owner only)."""
    ws = _open(db, identity_path)
    _emit(_run(_client(relay, ws, ca).request("set_join_mode", {"mode": mode})))


@main.group()
def script() -> None:
    """Lua scripts (docs/scripts.md): automation that stages its changes for review."""


def _arg_value(text: str) -> Any:
    """--arg values: true/false, whole and decimal numbers as numbers; anything else as text."""
    if text in ("true", "false"):
        return text == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@script.command("list")
@db_option
@identity_option
def script_list(db: Path, identity_path: Path) -> None:
    """The scripts that come with the app and the workspace's own, one JSON line each."""
    from openprod.scripts import list_scripts

    for item in list_scripts(_open(db, identity_path)):
        _emit({"id": item.id, "name": item.title, "description": item.description, "read_only": item.read_only,
               "args": [{"name": a.name, "kind": a.kind, "label": a.label, "default": a.default} for a in item.args]})


@script.command("run")
@db_option
@identity_option
@click.argument("script_ref", metavar="SCRIPT")
@click.option("--arg", "args", multiple=True, help="An argument for the script as name=value (repeatable).")
@click.option("--commit", is_flag=True, help="Commit the changes as one bundle now, instead of staging them for "
              "review in the app.")
@click.option("--on-error", type=click.Choice(["abort", "skip"]), default="abort", show_default=True,
              help="A change that fails: stop the run (nothing kept), or skip it and carry on.")
@click.option("--allow", "grants", multiple=True, help="Let the script read or write files in the workspace "
              "file's folder: fs.read:GLOB or fs.write:GLOB (repeatable), e.g. --allow fs.read:imports/*.csv")
def script_run(db: Path, identity_path: Path, script_ref: str, args: tuple[str, ...], commit: bool,
               on_error: str, grants: tuple[str, ...]) -> None:
    """Run a script against a workspace file: a .lua file, or one from `openprod script list` by its id.
    Prints its messages and what it staged (or committed) as JSON lines; a script that fails
    changes nothing and exits 1 with the reason on one line."""
    from openprod.lua_lupa import LupaEngine
    from openprod.scripts import Script, ScriptEvent, find_script, run_script

    from . import scriptgrants
    from .scriptfiles import WorkspaceFiles

    given: dict[str, Any] = {}
    for item in args:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.ClickException(f"--arg {item!r}: write it as name=value")
        given[name.strip()] = _arg_value(value)
    try:
        me = _identity(identity_path).actor_id.hex()
        granted = [*scriptgrants.for_user(db, me), *grants]  # recorded for this user, plus this run's
        files = WorkspaceFiles(db.parent, granted, _protected(db)) if granted else None
    except OpenprodError as exc:
        raise click.ClickException(str(exc)) from None
    script_path = Path(script_ref)
    from_library = script_ref.startswith("module:") or (not script_path.exists() and _is_uuid(script_ref))
    if not from_library:
        if not script_path.is_file():
            raise click.ClickException(f"no script file {script_ref}; name a .lua file, or a script's id from "
                                       "`openprod script list` (e.g. module:renumber_cues)")
        try:
            source = script_path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise click.ClickException(f"{script_path} is not UTF-8 text") from None
    ws = _open(db, identity_path)
    name = script_path.stem
    if from_library:
        try:
            chosen = find_script(ws, script_ref)
            given = chosen.check_args(given)
        except OpenprodError as exc:
            raise click.ClickException(str(exc)) from None
        source, name = chosen.source, chosen.name

    def show(event: ScriptEvent) -> None:
        _emit({"event": event.kind, "level": event.level, "message": event.message, "current": event.current,
               "total": event.total})

    try:
        definition = Script(name=name, source=source, mode="autoCommit" if commit else "session",
                            on_error=on_error)
        result = run_script(ws, LupaEngine(), definition, args=given, on_event=show, files=files)
    except OpenprodError as exc:
        line = exc.line() if hasattr(exc, "line") else " ".join(str(exc).split())
        raise click.ClickException(line) from None
    summary: dict[str, Any] = {"status": result.status, "overlay": result.overlay, "bundle": result.bundle,
                               "ops": result.op_count, "skipped": result.skipped}
    if result.wire is not None:  # committed: the workspace's triggers fire on it, here, as after any edit
        from openprod.scripts import TriggerRunner

        try:
            runs = TriggerRunner(ws, LupaEngine(), on_event=show).after_bundle(result.wire)
        except OpenprodError as exc:
            raise click.ClickException(f"the script's changes were committed, then: {exc}") from None
        summary["triggered"] = [{"trigger": r.trigger, "record": r.record, "depth": r.depth,
                                 "status": r.result.status if r.result else "failed",
                                 "overlay": r.result.overlay if r.result else None,
                                 "error": r.error.line() if r.error else None} for r in runs]
    if result.overlay is not None:
        ws.staging.activate(result.overlay)
        summary["staged"] = [{"op": op.op_type, "record": op.target, "field": op.field, "was": op.was,
                              "now": ws.records.value(op.target, op.field) if op.target is not None and op.field
                              and op.target_is_id and op.field.count(".") == 2 else None}
                             for op in ws.staging.staged_ops(result.overlay)]
        ws.staging.stash(result.overlay, pending=True)
    _emit(summary)
from .cli_lifecycle import COMMANDS as _LIFECYCLE_COMMANDS  # noqa: E402  (export, import, inspect)
from .cli_members import members as _members_group  # noqa: E402

for _command in (*_LIFECYCLE_COMMANDS, _members_group):
    main.add_command(_command)


def _protected(db: Path) -> list[Path]:
    from . import scriptgrants

    return [db, *(db.with_name(db.name + s) for s in ("-wal", "-shm", "-journal")), scriptgrants.grants_path(db),
            scriptgrants.grants_path(db).with_name(scriptgrants.grants_path(db).name + ".partial")]


def _grant_target(identity_path: Path, to: str | None) -> tuple[Identity, str]:
    me = _identity(identity_path)
    if to is None:
        return me, me.actor_id.hex()
    user = to.strip().lower()
    if len(user) != 64 or any(c not in "0123456789abcdef" for c in user):
        raise click.ClickException(f"--to {to!r}: give the person's actor id (64 hex characters, the "
                                   "actor_id in their identity file)")
    return me, user


grant_to = click.option("--to", "to", default=None, help="The person's actor id (64 hex) [default: you].")


@script.command("grant")
@db_option
@identity_option
@grant_to
@click.argument("capabilities", nargs=-1, required=True)
def script_grant(db: Path, identity_path: Path, to: str | None, capabilities: tuple[str, ...]) -> None:
    """Record that scripts run by a person may read or write files beside this workspace file:
    fs.read:GLOB or fs.write:GLOB. Kept on this machine only (never synced), with who granted it and when."""
    from . import scriptgrants

    if not db.exists():
        raise click.ClickException(f"no workspace file at {db}")
    me, user = _grant_target(identity_path, to)
    try:
        added = scriptgrants.grant(db, user, list(capabilities), me.actor_id.hex(), me.display_name)
    except OpenprodError as exc:
        raise click.ClickException(str(exc)) from None
    for item in added:
        _emit({"granted": scriptgrants.as_json(item)})
    if len(added) < len(set(capabilities)):
        _emit({"already_granted": sorted(set(capabilities) - {g.capability for g in added})})


@script.command("revoke")
@db_option
@identity_option
@grant_to
@click.argument("capabilities", nargs=-1, required=True)
def script_revoke(db: Path, identity_path: Path, to: str | None, capabilities: tuple[str, ...]) -> None:
    """Take back recorded capabilities."""
    from . import scriptgrants

    _, user = _grant_target(identity_path, to)
    try:
        removed = scriptgrants.revoke(db, user, list(capabilities))
    except OpenprodError as exc:
        raise click.ClickException(str(exc)) from None
    for item in removed:
        _emit({"revoked": scriptgrants.as_json(item)})


@script.command("grants")
@db_option
def script_grants(db: Path) -> None:
    """The capabilities recorded beside this workspace file, one JSON line each."""
    from . import scriptgrants

    try:
        for item in scriptgrants.load(db):
            _emit(scriptgrants.as_json(item))
    except OpenprodError as exc:
        raise click.ClickException(str(exc)) from None


def run() -> None:
    """The console entry point: every option can also come from OPENPROD_<COMMAND>_<OPTION>."""
    main(auto_envvar_prefix="OPENPROD")


if __name__ == "__main__":  # pragma: no cover
    run()
