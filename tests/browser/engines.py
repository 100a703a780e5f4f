"""The two browser engines the web app is tested in, behind one driver layer.

* **chromium**: Debian's /usr/bin/chromium through Playwright (a fresh context per test).
* **webkit**: WebKitGTK (Safari's engine) in its MiniBrowser, through WebKitWebDriver and Selenium,
  on an X display of its own (Xvfb started here; nothing is taken from the session's environment).
  One WebDriver session per test module: its profile (storage, identity, service worker) is shared by
  that module's WebKit tests, which is why two-engine tests never assume an empty profile. Each page
  is a window of that session; closing a page closes its window at once. WebKitWebDriver deletes the
  session when a page's web process crashes or hangs: the next test then starts a new session (a new,
  empty profile), so one crash fails one test, not the rest of the module's WebKit lane.

A two-engine test takes the `profile` fixture (see conftest.py) and writes what a person does
with the Playwright subset that `wdpage.py` implements for WebDriver; `expect` here accepts both
engines' locators. The lane a test runs in shows in its id: `test_x[chromium]`, `test_x[webkit]`.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENGINES = ("chromium", "webkit")
# Debian ships it in libwebkit2gtk-4.1-0 (a dependency of webkit2gtk-driver), under the architecture's lib dir.
MINIBROWSER = next(iter(sorted(glob.glob("/usr/lib/*/webkit2gtk-4.1/MiniBrowser"))),
                   "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser")
WEBKIT_DRIVER = "/usr/bin/WebKitWebDriver"
XVFB = "/usr/bin/Xvfb"
# Safari has navigator.storage (estimate, persist); MiniBrowser hides it unless asked.
WEBKIT_ARGS = ["--automation", "--features=+StorageAPI,+StorageAPIEstimate"]
SCREEN = "1600x1400x24"


def webkit_missing() -> str | None:
    """Why the WebKit lane cannot run here (None when it can)."""
    for path, package in ((MINIBROWSER, "webkit2gtk-driver"), (WEBKIT_DRIVER, "webkit2gtk-driver"), (XVFB, "xvfb")):
        if not Path(path).exists():
            return f"{path} is missing (Debian package {package}; scripts/bootstrap installs it)"
    return None


class Display:
    """An Xvfb server on a display number it picks itself (-displayfd), stopped by `stop()`."""

    def __init__(self) -> None:
        read, write = os.pipe()
        self.proc = subprocess.Popen([XVFB, "-displayfd", str(write), "-screen", "0", SCREEN, "-nolisten", "tcp"],
                                     pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write)
        number = b""
        with os.fdopen(read, "rb") as pipe:
            while not number.endswith(b"\n"):
                byte = pipe.read(1)
                if not byte:
                    raise RuntimeError(f"Xvfb exited with {self.proc.wait()} before it said its display")
                number += byte
        self.name = f":{number.decode().strip()}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_webkit(display: Display, log: Path) -> Any:
    """A WebDriver session driving a fresh MiniBrowser (a fresh, ephemeral profile) on `display`."""
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never download anything
    from selenium import webdriver
    from selenium.webdriver.webkitgtk.options import Options
    from selenium.webdriver.webkitgtk.service import Service

    options = Options()
    options.binary_location = MINIBROWSER
    for arg in WEBKIT_ARGS:
        options.add_argument(arg)
    env = {**os.environ, "DISPLAY": display.name}
    service = Service(executable_path=shutil.which("WebKitWebDriver") or WEBKIT_DRIVER, log_output=str(log), env=env)
    driver = webdriver.WebKitGTK(service=service, options=options)
    driver.set_script_timeout(180)
    driver.set_page_load_timeout(120)
    return driver


class WebKitProfile:
    """A WebDriver session as a Playwright-like browser context: pages are its windows.

    The first window stays open on about:blank (a session ends with its last window), so a page
    can be closed at once, as a person closes a tab, and the profile lives on.
    """

    def __init__(self, start: Callable[[], Any]) -> None:
        self._start = start
        self.restarts = 0
        self._begin(start())

    def _begin(self, driver: Any) -> None:
        self.driver = driver
        self.home = driver.current_window_handle
        self.current_handle = self.home
        self.pages: list[Any] = []
        # MiniBrowser's window has a toolbar above the page: the viewport is this much shorter.
        self.chrome_height: int | None = None

    def alive(self) -> bool:
        """Whether the WebDriver session still answers (a page crash or hang deletes it)."""
        try:
            return bool(self.driver.window_handles)  # the home window is always open
        except Exception:
            return False

    def ensure_alive(self) -> None:
        """At the start of a test: a new session if the last one died, said on stderr (the test log)."""
        if self.alive():
            return
        print("WebKit: the WebDriver session had ended (a page crashed or hung); starting a new one, "
              "with an empty profile", file=sys.stderr)
        self.quit()
        self.restarts += 1
        self._begin(self._start())

    def quit(self) -> None:
        try:
            self.driver.quit()
        except Exception as exc:  # a dead session may fail to say goodbye; its processes still end
            print(f"WebKit: ending the session: {type(exc).__name__}: {str(exc)[:200]}", file=sys.stderr)

    def new_page(self) -> Any:
        from wdpage import WebDriverPage

        self.driver.switch_to.new_window("window")
        page = WebDriverPage(self, self.driver.current_window_handle)
        self.current_handle = page.handle
        self.pages.append(page)
        self.set_viewport(page, 1280, 800)
        return page

    def set_viewport(self, page: Any, width: int, height: int) -> None:
        """Resize the window so the page gets `width` x `height`, and wait until the page has laid out at it."""
        driver = page.driver
        if self.chrome_height is None:
            driver.set_window_rect(width=width, height=height)
            inner = _settled_size(driver)
            self.chrome_height = max(0, height - inner[1])
        for _ in range(3):
            driver.set_window_rect(width=width, height=height + self.chrome_height)
            inner = _settled_size(driver)
            if inner == (width, height):
                return
            self.chrome_height += height - inner[1]
        raise AssertionError(f"the page is {inner[0]} x {inner[1]}, not {width} x {height}")

    def close_page(self, page: Any) -> None:
        page.driver.close()
        page.closed = True
        self.pages.remove(page)
        self.driver.switch_to.window(self.home)
        self.current_handle = self.home

    def close(self) -> None:
        """End of a test: close its windows (the profile and its storage stay for the module). After a
        crash there is nothing left to close: the windows are forgotten, and the next test starts anew."""
        if not self.alive():
            for page in self.pages:
                page.closed = True
            self.pages.clear()
            return
        for page in list(self.pages):
            page.close()

    def grant_permissions(self, permissions: list[str], origin: str | None = None) -> None:
        """WebKit asks for no permission the two-engine tests need (no WebRTC here)."""


def _settled_size(driver: Any) -> tuple[int, int]:
    """The page's size once a resize has been laid out (the same size over two animation frames)."""
    size: list[int] = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
        (async () => {
            let last = '';
            for (let i = 0; i < 100; i += 1) {
                await frame(); await frame();
                const now = `${innerWidth}x${innerHeight}`;
                if (now === last) return done([innerWidth, innerHeight]);
                last = now;
            }
            done([innerWidth, innerHeight]);
        })();""")
    return int(size[0]), int(size[1])


def expect(target: Any) -> Any:
    """Playwright's `expect` for Playwright locators and pages; `wdpage.Expectation` for WebDriver locators."""
    from wdpage import Expectation, Locator

    if isinstance(target, Locator):
        return Expectation(target)
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)
