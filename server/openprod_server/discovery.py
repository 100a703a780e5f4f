"""Relays on a venue LAN finding each other and syncing the workspaces they both serve.

A laptop bridging the lighting network and the production office runs a relay on each side; the
relays advertise themselves with mDNS (python-zeroconf, pinned: the maintained pure-Python mDNS/DNS-SD
implementation) as `_openprod._tcp.local.`, with the sync protocol version, the relay's actor id and
the ids of the workspaces they host in TXT records. A relay that finds another (or is given its address
by hand with `--peer`, the fallback where multicast does not cross the network) joins, as itself, each
workspace they both host, and syncs it as a client every few seconds; new bundles then travel on to
every peer of either relay. Nothing new is trusted: the other relay admits this relay's actor by the
workspace's join mode like anyone (open: at once; request: the owner approves "Relay <name>"; access
key: not joined, logged), and every bundle is verified as always.

What a LAN advertisement gives away, on purpose: which workspace ids this relay hosts (only with
`--mdns` or `--peer`; `/lan/hello` answers 404 otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openprod.sync import PROTOCOL_VERSION

from .logs import log, now_ms, warn

if TYPE_CHECKING:
    from zeroconf import Zeroconf
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

    from .relay import Relay

SERVICE = "_openprod._tcp.local."
IDS_PER_KEY = 7  # 7 x 32 hex digits + commas fit a TXT string's 255 bytes
MAX_WORKSPACE_KEYS = 16
SYNC_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Advert:
    """Another relay as its advertisement (or its /lan/hello) describes it."""

    url: str
    relay: bytes
    workspaces: frozenset[bytes]
    name: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"url": self.url, "relay": self.relay.hex(), "name": self.name,
                "workspaces": sorted(str(uuid.UUID(bytes=w)) for w in self.workspaces)}


def txt_for(relay: bytes, workspaces: Iterable[bytes], scheme: str, name: str) -> dict[str, str]:
    """The TXT properties: protocol version, relay actor, scheme, name, workspace ids (hex, 7 per key)."""
    ids = sorted(w.hex() for w in workspaces)[:IDS_PER_KEY * MAX_WORKSPACE_KEYS]
    txt = {"v": str(PROTOCOL_VERSION), "relay": relay.hex(), "scheme": scheme, "name": name[:60]}
    for index in range(0, len(ids), IDS_PER_KEY):
        txt[f"ws{index // IDS_PER_KEY}"] = ",".join(ids[index:index + IDS_PER_KEY])
    return txt


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def parse_advert(properties: dict[Any, Any], host: str, port: int) -> Advert | None:
    """An advertisement -> Advert, or None when it is not one we can sync with (another protocol
    version, a bad relay id or workspace id, no usable address). Never raises on junk."""
    props = {_text(k): _text(v) for k, v in properties.items()}
    if props.get("v") != str(PROTOCOL_VERSION) or not host or not 0 < port < 65536:
        return None
    try:
        relay = bytes.fromhex(props.get("relay", ""))
    except ValueError:
        return None
    if len(relay) != 32:
        return None
    workspaces = set()
    for index in range(MAX_WORKSPACE_KEYS):
        for text in filter(None, props.get(f"ws{index}", "").split(",")):
            try:
                ws = bytes.fromhex(text)
            except ValueError:
                return None
            if len(ws) != 16:
                return None
            workspaces.add(ws)
    scheme = props.get("scheme", "http")
    if scheme not in ("http", "https"):
        return None
    shown = f"[{host}]" if ":" in host else host
    return Advert(url=f"{scheme}://{shown}:{port}", relay=relay, workspaces=frozenset(workspaces),
                  name=props.get("name", ""))


@dataclass
class LanPeers:
    """Finds other relays (mDNS and manual addresses) and syncs the workspaces both host."""

    relay: Relay
    own_url: str
    manual: tuple[str, ...] = ()
    mdns: bool = False
    interfaces: tuple[str, ...] = ()
    every_s: float = 5.0
    name: str = field(default_factory=socket.gethostname)
    found: dict[str, Advert] = field(default_factory=dict)  # relay URL -> what it hosts, as last heard
    _mdns_urls: dict[str, str] = field(default_factory=dict)  # mDNS service name -> relay URL
    _zc: AsyncZeroconf | None = None
    _browser: AsyncServiceBrowser | None = None
    _service: Any = None
    _advertised: frozenset[bytes] = frozenset()
    _joined: set[tuple[str, bytes]] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def enabled(self) -> bool:
        return self.mdns or bool(self.manual)

    def hello(self) -> dict[str, Any]:
        """What /lan/hello answers: this relay as an advert (for peers given by address)."""
        return {"relay": self.relay.identity.actor_id.hex(), "protocol": PROTOCOL_VERSION, "name": self.name,
                "workspaces": sorted(str(uuid.UUID(bytes=w)) for w in self._hosted())}

    def known(self) -> list[dict[str, Any]]:
        return [advert.to_json() for advert in sorted(self.found.values(), key=lambda a: a.url)]

    def _hosted(self) -> frozenset[bytes]:
        try:
            return frozenset(self.relay.records(lambda: self.relay.registry.workspaces()))
        except Exception:  # a damaged relay.db answers nothing here; /healthz says why
            return frozenset()

    # --- mDNS -------------------------------------------------------------------------------

    async def start(self) -> None:
        if not self.mdns:
            return
        from zeroconf import InterfaceChoice, IPVersion
        from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

        interfaces: Any = list(self.interfaces) if self.interfaces else InterfaceChoice.All
        self._zc = AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
        await self._advertise()
        self._browser = AsyncServiceBrowser(self._zc.zeroconf, SERVICE, handlers=[self._on_change])
        log("lan_discovery_started", service=SERVICE, interfaces=list(self.interfaces) or "all")

    def _service_info(self) -> Any:
        from zeroconf.asyncio import AsyncServiceInfo

        scheme, _, rest = self.own_url.partition("://")
        host, _, port = rest.rstrip("/").rpartition(":")
        addresses = [socket.inet_aton(a) for a in (self.interfaces or (host,)) if _ipv4(a)]
        label = f"Openprod relay {self.relay.identity.actor_id.hex()[:8]}"
        return AsyncServiceInfo(SERVICE, f"{label}.{SERVICE}", port=int(port), addresses=addresses,
                                properties=txt_for(self.relay.identity.actor_id, self._advertised, scheme, self.name),
                                server=f"openprod-{self.relay.identity.actor_id.hex()[:12]}.local.")

    async def _advertise(self) -> None:
        if self._zc is None:
            return
        hosted = self._hosted()
        if self._service is not None and hosted == self._advertised:
            return
        self._advertised = hosted
        info = self._service_info()
        if self._service is None:
            await self._zc.async_register_service(info)
        else:
            await self._zc.async_update_service(info)
        self._service = info

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: Any) -> None:
        from zeroconf import ServiceStateChange

        if state_change is ServiceStateChange.Removed:
            url = self._mdns_urls.pop(name, None)
            if url is not None and url not in self.manual:
                self.found.pop(url, None)
            return
        task = asyncio.ensure_future(self._resolve(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, name: str) -> None:
        from zeroconf.asyncio import AsyncServiceInfo

        if self._zc is None:
            return
        info = AsyncServiceInfo(SERVICE, name)
        if not await info.async_request(self._zc.zeroconf, 3000):
            return
        addresses = info.parsed_addresses()
        advert = parse_advert(info.properties or {}, addresses[0] if addresses else "", info.port or 0)
        if advert is None:
            warn("lan_advert_ignored", name=name)
            return
        if advert.relay == self.relay.identity.actor_id:
            return
        self._mdns_urls[name] = advert.url
        self._heard(advert, f"mdns:{name}")

    def _heard(self, advert: Advert, how: str) -> None:
        if self.found.get(advert.url) != advert:
            log("lan_relay_found", via=how, url=advert.url, relay=advert.relay.hex(), workspaces=len(advert.workspaces))
        self.found[advert.url] = advert

    # --- manual peers and syncing --------------------------------------------------------------

    async def _ask(self) -> None:
        """Ask every relay we know of (given by hand, or found over mDNS) what it hosts now: an mDNS
        announcement can be missed, and the answer over HTTP is the fresh one."""
        for url in sorted({*self.manual, *self._mdns_urls.values()}):
            try:
                answer = await asyncio.to_thread(_get_json, url.rstrip("/") + "/lan/hello")
                relay = bytes.fromhex(str(answer["relay"]))
                spaces = frozenset(uuid.UUID(str(w)).bytes for w in answer["workspaces"])
                if answer.get("protocol") != PROTOCOL_VERSION or len(relay) != 32:
                    raise ValueError(f"protocol {answer.get('protocol')}")
            except Exception as exc:  # unreachable, or not an Openprod relay: try again next round
                warn("lan_peer_unreachable", url=url, error=f"{type(exc).__name__}: {exc}")
                self.found.pop(url, None)
                continue
            if relay != self.relay.identity.actor_id:
                self._heard(Advert(url=url.rstrip("/"), relay=relay, workspaces=spaces,
                                   name=str(answer.get("name", ""))), "hello")

    async def round(self) -> int:
        """One pass: refresh what we know, then sync every workspace hosted both here and there. Returns
        how many workspace syncs ended in sync."""
        await self._advertise()
        await self._ask()
        hosted = self._hosted()
        done = 0
        for advert in list(self.found.values()):
            if advert.relay == self.relay.identity.actor_id:
                continue
            for ws in sorted(hosted & advert.workspaces):
                done += await self._sync(advert, ws)
        return done

    async def _sync(self, advert: Advert, ws: bytes) -> int:
        from .client import ClientError, RelayClient
        from .relay import Unavailable

        try:
            hosted = self.relay.open_hosted(ws)
        except Unavailable:
            return 0
        client = RelayClient(advert.url, hosted.ws)
        try:
            if (advert.url, ws) not in self._joined:
                answer = await client.join(None, f"Relay {self.name}")
                if not answer.get("joined"):
                    log("lan_join_pending", url=advert.url, ws=str(uuid.UUID(bytes=ws)))
                    return 0
                self._joined.add((advert.url, ws))
            report = await asyncio.wait_for(client.sync(until_in_sync=True), SYNC_TIMEOUT_S)
        except (ClientError, TimeoutError, OSError) as exc:
            self._joined.discard((advert.url, ws))
            warn("lan_sync_failed", url=advert.url, ws=str(uuid.UUID(bytes=ws)), error=str(exc))
            return 0
        hosted.last_used = now_ms()
        if report.received:
            log("lan_synced", url=advert.url, ws=str(uuid.UUID(bytes=ws)), received=report.received)
        return 1 if report.in_sync else 0

    async def run(self) -> None:
        """The background loop (the relay's lifespan starts it when LAN peering is on)."""
        await self.start()
        while True:
            with contextlib.suppress(Exception):
                await self.round()
            await asyncio.sleep(self.every_s)

    async def close(self) -> None:
        if self._browser is not None:
            await self._browser.async_cancel()
        if self._zc is not None:
            if self._service is not None:
                with contextlib.suppress(Exception):
                    await self._zc.async_unregister_service(self._service)
            await self._zc.async_close()


def _ipv4(text: str) -> bool:
    try:
        socket.inet_aton(text)
    except OSError:
        return False
    return text.count(".") == 3


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.loads(response.read())
    if not isinstance(answer, dict):
        raise ValueError("not a JSON object")
    return answer
