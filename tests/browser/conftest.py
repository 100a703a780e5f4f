"""Real-browser fixtures: build/web served on 127.0.0.1 by a real relay process, Debian's /usr/bin/chromium
via Playwright.

The bundle is built (or found up to date) once per session with build.py. It is served by the
relay (`openprod serve`, a real process with its own data directory), which the sync tests also
sync with, signal through and restart. `OPENPROD_BROWSER_SERVER=static` serves it with
`static_server.py` instead (for working on the app without the relay; the sync tests then skip).
Every test that must stop the server gets its own (so its origin, and its storage, is its own too).
One Chromium process is shared by the session; tests isolate themselves with fresh contexts.
WebRTC on loopback needs `--allow-loopback-in-peer-connection` and the camera/microphone
permission (without it Chromium hides host candidates): `rtc_context` grants it.

Two engines (engines.py): a test that takes the `profile` fixture runs twice, `[chromium]` and
`[webkit]` (WebKitGTK's MiniBrowser through WebKitWebDriver on its own Xvfb display), unless it is
marked `chromium_only(reason=...)`. Tests that take Playwright's `context`/`browser` directly are
Chromium-only and must say why with that mark (docs/web.md lists them; test_lanes.py checks).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from engines import ENGINES, Display, WebKitProfile, start_webkit, webkit_missing
from wdpage import PAGE_STATE_JS, page_state

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "build" / "web"
WEB_DEBUG = ROOT / "build" / "web-debug"  # the same app + the TEST-ONLY debug peer (build.py --debug-peer)
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        # a name that resolves to loopback but is not "localhost": a plain-HTTP, non-secure origin
        "--host-resolver-rules=MAP insecure.openprod.test 127.0.0.1",
        "--allow-loopback-in-peer-connection"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
BOOT_TIMEOUT_MS = 60_000

# `expect(...)` waits for a state, polling; its default limit (5 s) is a bound a loaded CI machine
# (2 shared cores) can hit while the page is merely slow. A passing check never waits longer.
try:
    from playwright.sync_api import expect as _expect

    _expect.set_options(timeout=20_000)
except ImportError:  # pragma: no cover - the browser tests skip without Playwright
    pass


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    explicit = any("engine" in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize"))
    if "engine" in metafunc.fixturenames and not explicit:
        only = metafunc.definition.get_closest_marker("chromium_only")
        metafunc.parametrize("engine", ["chromium"] if only else list(ENGINES))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed  # for `profile`: a failed test leaves screenshots of its pages
    return report


FAILED = pytest.StashKey[bool]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "web_bundle" in names or "debug_bundle" in names or "engine" in names:
            item.add_marker(pytest.mark.browser)
        callspec = getattr(item, "callspec", None)
        if (callspec is not None and callspec.params.get("engine") == "webkit") or "webkit_profile" in names:
            item.add_marker(pytest.mark.webkit)


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


RELAY = ROOT / ".venv" / "bin" / "openprod"


def _relay_command(port: int, data: Path, web: Path) -> list[str]:
    """The relay, as a user runs it (loopback only; its WebRTC peer offers 127.0.0.1 candidates)."""
    if not RELAY.exists():
        raise RuntimeError(f"{RELAY} is missing: the browser tests run against the relay (scripts/bootstrap)")
    return [str(RELAY), "serve", "--host", "127.0.0.1", "--port", str(port), "--data", str(data), "--web", str(web),
            "--rtc-address", "127.0.0.1", "--log-level", "info"]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    kind: str
    data: Path
    web: Path
    port: int

    @property
    def origin(self) -> str:
        return self.url.rstrip("/")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def report(self, lines: int = 80) -> str:
        """Whether the relay still runs, and the end of its log: printed after a failed test, because
        CI keeps only the test log and a relay that died or stalled is otherwise invisible there."""
        code = self.proc.poll()
        state = "still running" if code is None else f"exited with {code}"
        log = self.data.parent / f"{self.data.name}.log"
        if self.kind != "relay" or not log.exists():
            return f"--- server on port {self.port}: {state} (no log) ---"
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join([f"--- relay on port {self.port}: {state}; the last {len(tail)} lines of {log} ---", *tail])

    def restart(self) -> None:
        """Start the same relay again: same port, same data directory (after `stop`)."""
        self.stop()
        self.proc = _spawn(self.kind, self.port, self.data, self.web)
        _wait_listening(self.port, self.proc)


def _spawn(kind: str, port: int, data: Path, web: Path) -> subprocess.Popen[bytes]:
    if kind == "relay":
        data.mkdir(parents=True, exist_ok=True)
        log = (data.parent / f"{data.name}.log").open("ab")
        return subprocess.Popen(_relay_command(port, data, web), cwd=ROOT, stdout=log, stderr=log)
    script = Path(__file__).with_name("static_server.py")
    return subprocess.Popen([sys.executable, str(script), str(web), str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_server(tmp: Path, web: Path = WEB) -> Server:
    port = _free_port()
    kind = "static" if os.environ.get("OPENPROD_BROWSER_SERVER") == "static" else "relay"
    data = tmp / "relay-data"
    proc = _spawn(kind, port, data, web)
    _wait_listening(port, proc)
    return Server(f"http://127.0.0.1:{port}/", proc, kind, data, web, port)


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
def server_factory(web_bundle: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Server]]:
    """A fresh relay per call, serving `web` (default the normal bundle; a test asking for the debug_bundle
    fixture may pass it). After a failed test, each relay's state and the end of its log are printed."""
    started: list[Server] = []

    def make(web: Path = WEB) -> Server:
        srv = start_server(tmp_path / f"s{len(started)}", web)
        started.append(srv)
        return srv

    yield make
    if request.node.stash.get(FAILED, False):
        for srv in started:
            print(srv.report())
    for srv in started:
        srv.stop()


# Module scope, not session: Playwright's sync API keeps an asyncio loop running on the main thread
# while it is open, and any later test calling asyncio.run() would fail with "cannot be called from a
# running event loop". Closing it at the end of each browser module leaves the rest of the suite clean.
@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright_instance: object, web_bundle: Path) -> Iterator[object]:
    b = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)  # type: ignore[attr-defined]
    yield b
    b.close()


def keep_failure(request: pytest.FixtureRequest, pages: list[Any]) -> None:
    """After a failed test, a screenshot and the page state of each of its pages in test-artifacts/, and
    the state, short, in the log (printed in teardown: pytest shows it with the failure; CI keeps
    only the log)."""
    if not request.node.stash.get(FAILED, False):
        return
    folder = ROOT / "test-artifacts" / "failures"
    folder.mkdir(parents=True, exist_ok=True)
    for i, page in enumerate(pages):
        with contextlib.suppress(Exception):
            page.screenshot(path=str(folder / f"{request.node.name}-{i}.png"))
        with contextlib.suppress(Exception):
            (folder / f"{request.node.name}-{i}.txt").write_text(page.evaluate(PAGE_STATE_JS))
        print(f"--- page {i} of {request.node.name} when it failed ---\n{page_state(page, short=True)}")


@pytest.fixture
def context(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    yield ctx
    keep_failure(request, list(ctx.pages))  # type: ignore[attr-defined]
    ctx.close()


@pytest.fixture
def new_context(browser: object, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Contexts made with the test's own options (touch, colour scheme, size); after a failure each of
    their pages is kept as `context`'s are (keep_failure), then they are closed."""
    made: list[Any] = []

    def make(**options: Any) -> Any:
        made.append(browser.new_context(**options))  # type: ignore[attr-defined]
        return made[-1]

    yield make
    keep_failure(request, [page for ctx in made for page in ctx.pages])
    for ctx in made:
        ctx.close()


@pytest.fixture
def rtc_context(browser: object, request: pytest.FixtureRequest) -> Iterator[Callable[[Server], object]]:
    """Fresh contexts (each a separate browser profile: its own storage and identity) that may use WebRTC
    on loopback with `server`'s origin."""
    made: list[object] = []

    def make(server: Server) -> object:
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
        ctx.grant_permissions(["camera", "microphone"], origin=server.origin)
        made.append(ctx)
        return ctx

    yield make
    keep_failure(request, [page for ctx in made for page in ctx.pages])  # type: ignore[attr-defined]
    for ctx in made:
        ctx.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def x_display() -> Iterator[Display]:
    """An X server of our own for MiniBrowser (it has no headless mode), started on first use."""
    missing = webkit_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the WebKit lane cannot run: {missing}")
        pytest.skip(f"the WebKit lane cannot run: {missing}")
    display = Display()
    yield display
    display.stop()


@pytest.fixture(scope="module")
def webkit_session(x_display: Display, web_bundle: Path, tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[WebKitProfile]:
    """One WebKitGTK session (one profile) per test module: MiniBrowser + WebKitWebDriver + Selenium."""
    logs = tmp_path_factory.mktemp("webkit")
    count = iter(range(1_000))
    webkit = WebKitProfile(lambda: start_webkit(x_display, logs / f"webkitwebdriver-{next(count)}.log"))
    try:
        yield webkit
    finally:
        webkit.quit()


@pytest.fixture
def webkit_profile(webkit_session: WebKitProfile) -> WebKitProfile:
    """The module's WebKit session for one test; a new one if a page crash ended it during an earlier test."""
    webkit_session.ensure_alive()
    return webkit_session


@pytest.fixture
def profile(engine: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A person's browser profile in `engine`: `profile.new_page()` opens a tab (Playwright page or
    WebDriver window). Chromium: a fresh context per test. WebKit: the module's session, whose
    storage the module's WebKit tests share; the test's windows are closed after it."""
    if engine == "chromium":
        ctx = request.getfixturevalue("browser").new_context(viewport={"width": 1280, "height": 800})
        yield ctx
        pages = list(ctx.pages)
    else:
        webkit: WebKitProfile = request.getfixturevalue("webkit_profile")
        yield webkit
        pages = list(webkit.pages)
    keep_failure(request, pages)
    if engine == "chromium":
        ctx.close()
    else:
        webkit.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session", autouse=True)
def _clean_screenshots() -> None:
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
