"""Real-browser fixtures: build/web served over HTTP on 127.0.0.1, Debian's /usr/bin/chromium via Playwright.

The bundle is built (or found up to date) once per session with build.py. It is served by the
relay (`openprod serve`) when the relay is installed and can serve the bundle; otherwise by
`static_server.py` beside this file, a small server with the MIME types the app needs. Every
test that must stop the server gets its own (so its origin, and its storage, is its own too).
One Chromium process is shared by the session; tests isolate themselves with fresh contexts.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "build" / "web"
WEB_DEBUG = ROOT / "build" / "web-debug"  # the same app + the TEST-ONLY debug peer (build.py --debug-peer)
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        # a name that resolves to loopback but is not "localhost": a plain-HTTP, non-secure origin
        "--host-resolver-rules=MAP insecure.openprod.test 127.0.0.1"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
BOOT_TIMEOUT_MS = 60_000

def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "web_bundle" in names or "debug_bundle" in names:
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _relay_command(port: int, data: Path, web: Path) -> list[str] | None:
    """`openprod serve` if the relay exists and says it serves the web bundle, else None."""
    exe = ROOT / ".venv" / "bin" / "openprod"
    if os.environ.get("OPENPROD_BROWSER_SERVER") == "static" or not exe.exists():
        return None
    try:
        helptext = subprocess.run([str(exe), "serve", "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    if "--port" not in helptext:
        return None
    cmd = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if "--data" in helptext:
        cmd += ["--data", str(data)]
    if "--web" in helptext:
        cmd += ["--web", str(web)]
    elif web != WEB:
        return None  # this relay serves only build/web: the static server serves the other bundle
    return cmd


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    kind: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(tmp: Path, web: Path = WEB) -> Server:
    port = _free_port()
    relay = _relay_command(port, tmp / "relay-data", web)
    if relay is not None:
        proc = subprocess.Popen(relay, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kind = "relay"
    else:
        script = Path(__file__).with_name("static_server.py")
        proc = subprocess.Popen([sys.executable, str(script), str(web), str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kind = "static"
    _wait_listening(port, proc)
    return Server(f"http://127.0.0.1:{port}/", proc, kind)


@pytest.fixture(scope="session")
def web_bundle() -> Path:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (scripts/bootstrap installs it)")
    subprocess.run([sys.executable, str(ROOT / "build.py")], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return WEB


@pytest.fixture(scope="session")
def debug_bundle(web_bundle: Path) -> Path:
    """build/web-debug: the app plus the TEST-ONLY in-worker debug peer (never in a normal build)."""
    subprocess.run([sys.executable, str(ROOT / "build.py"), "--debug-peer", "--out", str(WEB_DEBUG)], check=True,
                   cwd=ROOT, stdout=subprocess.DEVNULL)
    return WEB_DEBUG


@pytest.fixture(scope="session")
def debug_server(debug_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("debug-server"), debug_bundle)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def server(web_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("server"))
    yield srv
    srv.stop()


@pytest.fixture
def server_factory(web_bundle: Path, tmp_path: Path) -> Iterator[Callable[[], Server]]:
    started: list[Server] = []

    def make() -> Server:
        srv = start_server(tmp_path / f"s{len(started)}")
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: object, web_bundle: Path) -> Iterator[object]:
    b = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)  # type: ignore[attr-defined]
    yield b
    b.close()


@pytest.fixture
def context(browser: object) -> Iterator[object]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    yield ctx
    ctx.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session", autouse=True)
def _clean_screenshots() -> None:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
