"""The relay's configuration: one frozen value built by the CLI (or a test) and handed to the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from openprod import ParkingLimits
from openprod.sync import SessionConfig

from .ratelimit import Rate

REPO_WEB = Path(__file__).resolve().parents[2] / "build" / "web"  # server/openprod_server/ -> repo


DRAIN_STEP = 256  # parked bundles applied per step once released (about 60 ms of work)


@dataclass(frozen=True, kw_only=True)
class IceServer:
    """A STUN or TURN server offered to WebRTC peers (browsers and the relay's own aiortc peer)."""

    urls: str
    username: str | None = None
    credential: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"urls": self.urls}
        if self.username is not None:
            out["username"] = self.username
        if self.credential is not None:
            out["credential"] = self.credential
        return out


@dataclass(frozen=True, kw_only=True)
class RelayConfig:
    data_dir: Path
    """Holds relay.db (membership, keys), relay-identity.json, workspaces/<id>.db and tls/."""
    host: str = "127.0.0.1"
    """Address to listen on. Anything but loopback needs `lan=True`."""
    port: int = 8765
    lan: bool = False
    """Serve the venue network: HTTPS with the relay's own certificate authority."""
    tls: bool = False
    """Serve HTTPS (on by default with `lan`)."""
    san: tuple[str, ...] = ()
    """Extra host names or addresses for the server certificate (the relay adds what it finds)."""
    web_dir: Path = REPO_WEB
    """The built web app (`python build.py` writes build/web)."""
    ice_servers: tuple[IceServer, ...] = ()
    """STUN/TURN for WebRTC; empty means host candidates only (a LAN needs nothing else)."""
    rtc_addresses: tuple[str, ...] = ()
    """Restrict the relay's WebRTC host candidates to these addresses (multi-homed hosts, tests)."""
    join_rate_client: Rate = field(default_factory=lambda: Rate(burst=5, every_ms=12_000))
    """Join attempts with an access key per client address: 5 at once, then 5 a minute."""
    join_rate_workspace: Rate = field(default_factory=lambda: Rate(burst=20, every_ms=3_000))
    """Failed access-key joins per workspace, from all clients, before the workspace locks down: 20 at once,
    then 20 a minute. In lockdown an address that already failed there waits; a fresh one is still heard."""
    join_lockout_ms: int = 15 * 60_000
    """How long a failed attempt marks its address during a lockdown."""
    publish_rate_client: Rate = field(default_factory=lambda: Rate(burst=10, every_ms=60_000))
    """Publish requests per client address: 10 at once, then one a minute."""
    publish_rate_all: Rate = field(default_factory=lambda: Rate(burst=30, every_ms=20_000))
    """Publish requests from everyone together: 30 at once, then three a minute."""
    publishers: frozenset[bytes] | None = None
    """If set, only these actors (32-byte public keys) may publish workspaces here."""
    request_window_ms: int = 5 * 60_000
    """Signed requests must be this fresh (and are refused if replayed)."""
    max_body: int = 1024 * 1024
    """Largest HTTP request body (bytes); more is answered 413."""
    body_timeout_s: float = 30.0
    """Time allowed to receive a whole request body."""
    header_timeout_s: float = 10.0
    """Time allowed for a request's headers to arrive (from connecting, or from the previous response)."""
    auth_timeout_s: float = 10.0
    """Time allowed to authenticate on a sync or signalling socket."""
    send_timeout_s: float = 30.0
    """A peer that reads nothing for this long while we send is dropped."""
    max_connections_per_address: int = 64
    """Open connections (HTTP and WebSocket) from one client address (an IPv6 /64)."""
    max_connections: int = 2_000
    """Open connections in all."""
    trusted_proxies: tuple[str, ...] = ()
    """Reverse proxies whose X-Forwarded-For is believed (and whose connections are not counted per address)."""
    idle_close_s: float = 300.0
    """A workspace with no session for this long has its file closed (reopened on the next session)."""
    max_open_workspaces: int = 64
    """Workspace files open at once; the least recently used idle ones are closed first."""
    sqlite_memory_mib: int = 256
    """SQLite's memory for all open workspace files together, a soft limit (`relay.limit_sqlite_memory`).
    Each file caches up to 32 MiB of pages; 64 busy files would hold 2 GiB without it."""
    rtc_pending_timeout_s: float = 30.0
    """A WebRTC connection to the relay that is not connected within this time is dropped."""
    rtc_per_member: int = 2
    """Connected WebRTC connections to the relay per member of a room (plus one pending)."""
    rtc_total: int = 256
    """WebRTC connections to the relay in all (each holds a UDP socket)."""
    signal_rate: Rate = field(default_factory=lambda: Rate(burst=50, every_ms=50))
    """Signalling messages a member may send: 50 at once, then 20 a second."""
    signal_queue: int = 64
    """Messages waiting to be delivered to one signalling member; beyond it the member is dropped."""
    max_failures_kept: int = 10_000
    """Failed join attempts kept per workspace (and none older than 30 days)."""
    max_future_drift_cap_ms: int = 60 * 60_000
    """The relay's own ceiling on a workspace's max_future_drift_ms."""
    parking: ParkingLimits = field(default_factory=lambda: ParkingLimits(drain_step=DRAIN_STEP))
    """Bundles waiting for earlier ones, per author and per workspace, and for how long; a released
    chain applies `drain_step` bundles at a time between other work."""
    session: SessionConfig = field(default_factory=SessionConfig)
    """Sync session limits and timings."""
    lan_peers: tuple[str, ...] = ()
    """Other relays' base URLs to sync shared workspaces with (discovery.py; the fallback to mDNS)."""
    mdns: bool = False
    """Advertise on the LAN with mDNS and find other relays there (discovery.py)."""
    mdns_interfaces: tuple[str, ...] = ()
    """IPv4 addresses mDNS uses (empty: every interface)."""
    lan_peer_every_s: float = 5.0
    """Seconds between LAN peering rounds."""
    log_level: str = "info"
