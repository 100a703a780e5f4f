"""The relay's configuration: one frozen value built by the CLI (or a test) and handed to the app."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from openprod.sync import SessionConfig

from .ratelimit import Rate

REPO_WEB = Path(__file__).resolve().parents[2] / "build" / "web"  # server/openprod_server/ -> repo


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
    """Join attempts with an access key per workspace, from all clients: 20 at once, then 20 a minute."""
    request_window_ms: int = 5 * 60_000
    """Signed requests must be this fresh (and are refused if replayed)."""
    session: SessionConfig = field(default_factory=SessionConfig)
    """Sync session limits and timings."""
    log_level: str = "info"
