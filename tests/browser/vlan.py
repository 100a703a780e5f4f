"""A virtual venue LAN for tests: network namespaces joined by veth cables to one bridge (a switch).

Each "device" is a network namespace with only loopback and one cable (`eth0`) into the switch, which
is a bridge in a namespace of its own. Nothing of the host's network is in any of them, so traffic
between two devices crosses the switch, and there is no loopback path between them to take instead.
IPv6 is off in the devices, so the only addresses they have are the 10.77.0.0/24 ones given here,
and a default route to a router at 10.77.0.254 that does not exist (see `add`).

Needs root and `ip` (iproute2): `helpers.netns_unavailable()` says which is missing, for the skip reason.
Everything is torn down by `close()`, which a fixture's finalizer calls whether the test passed or not.
"""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from dataclasses import dataclass, field

SUBNET = "10.77.0"


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


@dataclass
class Device:
    name: str
    netns: str
    address: str

    def command(self, *argv: str) -> list[str]:
        """`argv` run inside this device's network namespace."""
        return ["ip", "netns", "exec", self.netns, *argv]


@dataclass
class VirtualLan:
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    devices: dict[str, Device] = field(default_factory=dict)
    _made: list[str] = field(default_factory=list)

    @property
    def switch(self) -> str:
        return f"openprod-{self.tag}-switch"

    def open(self) -> VirtualLan:
        _ip("netns", "add", self.switch)
        self._made.append(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        return self

    def add(self, name: str, host: int) -> Device:
        """Plug a device into the switch with address 10.77.0.`host`/24."""
        device = Device(name, f"openprod-{self.tag}-{name}", f"{SUBNET}.{host}")
        _ip("netns", "add", device.netns)
        self._made.append(device.netns)
        for key in ("all", "default"):
            subprocess.run(device.command("sysctl", "-q", "-w", f"net.ipv6.conf.{key}.disable_ipv6=1"), check=True)
        _ip("-n", device.netns, "link", "set", "lo", "up")
        port = f"p{len(self.devices)}"  # the switch's port for this cable
        _ip("-n", device.netns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", self.switch)
        _ip("-n", self.switch, "link", "set", port, "master", "br0")
        _ip("-n", self.switch, "link", "set", port, "up")
        _ip("-n", device.netns, "addr", "add", f"{device.address}/24", "dev", "eth0")
        _ip("-n", device.netns, "link", "set", "eth0", "up")
        # A venue network's DHCP hands every device a default route to its router, internet or not;
        # Chromium gathers no WebRTC candidates on a machine without one. Nothing answers at .254:
        # the LAN reaches nowhere beyond itself.
        _ip("-n", device.netns, "route", "add", "default", "via", f"{SUBNET}.254", "dev", "eth0")
        self.devices[name] = device
        return device

    def close(self) -> None:
        """Delete every namespace made (their cables and the bridge go with them)."""
        for netns in reversed(self._made):
            with contextlib.suppress(Exception):
                subprocess.run(["ip", "netns", "delete", netns], capture_output=True, timeout=30)
        self._made.clear()
