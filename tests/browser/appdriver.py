"""Drive the Openprod web app the way a person does: labels, buttons, keys, in either engine.

`page` is a Playwright page (Chromium) or a `wdpage.WebDriverPage` (WebKit): both offer the same
subset of Playwright's API, so these helpers, and the two-engine tests built on them, are written once.
"""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Any

from engines import expect
from wdpage import WebDriverPage

# First boot in a fresh context also fills the service-worker cache. A failure bound, never a wait:
# WebKitGTK's Python start took 56-77 s at load 15-20 on the 2 shared cores (2026-12-06), and creating
# a workspace waits for it, so 90 s was a bound a loaded machine could reach with nothing wrong.
BOOT_MS = 180_000
GRID = "body:not([data-opening]) table.grid"  # js/opening.js marks the opening screen until the real one is drawn
# The copy of the last grid shown, as js/opening.js keeps it for the next opening (null: none kept yet).
KEPT_SCREEN = """async (ws) => {
    const db = await new Promise((ok, no) => { const r = indexedDB.open(`openprod-ws-${ws}`);
        r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
    try {
        if (!db.objectStoreNames.contains('screen')) return null;
        return await new Promise((ok) => { const g = db.transaction('screen').objectStore('screen').get('last');
            g.onsuccess = () => ok(g.result || null); });
    } finally { db.close(); }
}"""
LOCAL = re.compile(r"^(https?://(127\.0\.0\.1|insecure\.openprod\.test)[:/]|data:|blob:|about:)")


class AppPage:
    def __init__(self, page: Any) -> None:
        self.page = page
        self.engine = "webkit" if isinstance(page, WebDriverPage) else "chromium"
        self._errors: list[str] = []
        self._external: list[str] = []
        if self.engine == "chromium":
            page.on("pageerror", lambda exc: self._errors.append(str(exc)))
            page.on("request", self._on_request)
            page.set_default_timeout(30_000)

    def _on_request(self, request: Any) -> None:
        if not LOCAL.match(request.url):
            self._external.append(request.url)

    @property
    def errors(self) -> list[str]:
        """Uncaught errors in the page: Playwright's pageerror events, or (WebDriver sees no events) the
        page's own record of them (`window.openprodErrors`, kept by main.js)."""
        if self.engine == "webkit" and not self.page.closed:
            self._errors = list(self.page.evaluate("window.openprodErrors || []"))
        return self._errors

    @property
    def external(self) -> list[str]:
        """Requests to anywhere but this machine: every request (Playwright), or the page's Resource Timing
        entries (WebDriver cannot watch requests; the worker's own fetches are not in that list)."""
        if self.engine == "webkit" and not self.page.closed:
            names = self.page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
            self._external = [n for n in names if not LOCAL.match(n)]
        return self._external

    def crash(self) -> None:
        """End the tab as a crash does (Chromium: its renderer killed with the DevTools protocol's Page.crash):
        no pagehide, no visibilitychange, and its worker gone at once with the process. Returns once
        Playwright has seen the crash."""
        assert self.engine == "chromium", "WebKitWebDriver cannot crash a tab"
        crashed: list[bool] = []
        self.page.on("crash", lambda _: crashed.append(True))
        cdp = self.page.context.new_cdp_session(self.page)
        with contextlib.suppress(Exception):  # the reply never comes: the renderer is gone
            cdp.send("Page.crash", timeout=10_000)
        deadline = time.monotonic() + 60
        while not crashed:
            assert time.monotonic() < deadline, "the tab did not crash"
            time.sleep(0.1)

    # --- navigation ----------------------------------------------------------------------

    def open(self, url: str) -> AppPage:
        self.page.goto(url)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        self.page.wait_for_selector("body[data-ready]", timeout=BOOT_MS)

    def wait_offline_ready(self) -> None:
        self.page.wait_for_selector("#offline-status[data-offline=ready]", timeout=BOOT_MS)
        self.page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=BOOT_MS)

    def ensure_identity(self, name: str = "Alice Stage") -> None:
        form = self.page.locator("form.identity-form")
        if form.count() and form.is_visible():
            self.page.get_by_label("Display name").fill(name)
            self.page.get_by_role("button", name="Continue").click()
        expect(self.page.get_by_role("heading", name="Create a workspace")).to_be_visible(timeout=BOOT_MS)

    def create_workspace(self, name: str = "Hamlet") -> str:
        self.page.get_by_label("Workspace name").fill(name)
        self.page.get_by_role("button", name="Create workspace").click()
        # the recovery words, shown once: written down (kept here for tests that use them)
        try:
            expect(self.page.get_by_role("list", name="Recovery words, in order")).to_be_visible(timeout=BOOT_MS)
        except AssertionError as exc:
            said = self._create_form_state()
            raise AssertionError(f"no recovery words after creating {name!r}: {said}\n{exc}") from exc
        self.last_recovery_words = self.page.evaluate(
            "() => [...document.querySelectorAll('.recovery-word')].map((w) => w.textContent).join(' ')")
        self.page.get_by_label("I have written them down").check()
        self.page.get_by_role("button", name="Open the workspace").click()
        self.page.wait_for_selector(GRID, timeout=BOOT_MS)
        match = re.search(r"#/w/([0-9a-f-]{36})/", self.page.url)
        assert match, self.page.url
        return match.group(1)

    def _create_form_state(self) -> str:
        """What the create form and the engine say (the form's status: empty if the submit never ran,
        "Give the workspace a name." if the name was lost, "Creating…" while the worker has not answered,
        "Not created: ..." on a refusal), for a failure message that needs no screenshot."""
        try:
            said: dict[str, Any] = self.page.evaluate("""() => {
                const form = document.querySelector('form.create-form');
                const engine = document.getElementById('engine-status');
                return {url: location.href, form: Boolean(form),
                        status: form ? form.querySelector('[role=status]').textContent : null,
                        name: form ? form.querySelector('input[name=name]').value : null,
                        buttonsDisabled: form ? [...form.querySelectorAll('button')].map((b) => b.disabled) : null,
                        engine: engine.textContent, bootMs: engine.dataset.bootMs || null,
                        heading: (document.querySelector('main h1') || {}).textContent || null};
            }""")
        except Exception as exc:  # a diagnosis must not hide the failure it describes
            return f"(the page did not answer: {type(exc).__name__}: {str(exc)[:200]})"
        return repr(said)

    def wait_grid(self) -> None:
        """The workspace's grid, with the app running (not the opening screen's copy of the last grid)."""
        self.page.wait_for_selector(GRID, timeout=BOOT_MS)

    # --- data ----------------------------------------------------------------------------

    def new_record(self, values: dict[str, str]) -> None:
        """Through the record form: 'New record', fill labelled fields, 'Create record'."""
        self.page.get_by_role("link", name="New record").click()
        for label, value in values.items():
            self.field(label).fill(value)
        self.page.get_by_role("button", name="Create record").click()
        self.wait_grid()
        self.wait_saved()

    def field(self, label: str) -> Any:
        """A form input by its visible label (required fields show 'Label *')."""
        return self.page.get_by_label(re.compile(rf"^{re.escape(label)}( \*)?$"))

    def wait_saved(self) -> None:
        self.page.wait_for_selector("#save-status[data-state=saved]", timeout=30_000)

    def column_index(self, field_label: str) -> int:
        headers = self.page.locator("table.grid thead th").all_inner_texts()
        for i, text in enumerate(headers):
            if text.replace("*", "").replace("▲", "").replace("▼", "").strip() == field_label:
                return i
        raise AssertionError(f"no column {field_label!r} in {headers}")

    def cell(self, row_text: str, field_label: str) -> Any:
        col = self.column_index(field_label)
        row = self.page.locator("table.grid tbody tr[data-id]", has_text=row_text).first
        return row.locator("th, td").nth(col)

    def column_values(self, field_label: str) -> list[str]:
        col = self.column_index(field_label)
        cells = self.page.locator(f"table.grid tbody tr[data-id] > :nth-child({col + 1})")
        return [t.strip() for t in cells.all_inner_texts()]

    def records_shown(self) -> Any:
        """The grid's record rows in the DOM (the grid draws the rows in view, plus a margin)."""
        return self.page.locator("table.grid tbody tr[data-id]")

    def edit_cell(self, row_text: str, field_label: str, value: str) -> None:
        """Click the cell, press Enter, type over the value, Enter: one saved bundle."""
        cell = self.cell(row_text, field_label)
        cell.click()
        self.page.keyboard.press("Enter")
        editor = self.page.locator("input.cell-editor")
        editor.fill(value)
        self.page.keyboard.press("Enter")
        self.wait_saved()

    # --- worker diagnostics --------------------------------------------------------------

    def api(self, method: str, *args: Any) -> Any:
        return self.page.evaluate("([m, a]) => window.openprod.api[m](...a)", [method, list(args)])

    def call(self, method: str, **args: Any) -> Any:
        return self.page.evaluate("([m, a]) => window.openprod.api.call(m, a)", [method, args])

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.api("stats")
        return result

    def kept_screen(self, ws: str) -> dict[str, Any] | None:
        """The grid this browser kept for the next opening of `ws`, read from IndexedDB as opening.js does."""
        kept: dict[str, Any] | None = self.page.evaluate(KEPT_SCREEN, ws)
        return kept

    def wait_kept_screen(self, ws: str, until: Any, what: str, timeout_s: float = 30) -> dict[str, Any]:
        """Until the kept grid of `ws` satisfies `until(rows)` (it is written a moment after the grid
        settles, at most every 2 s); the copy."""
        deadline = time.monotonic() + timeout_s
        while True:
            kept = self.kept_screen(ws)
            if kept and until(kept["data"]["rows"]):
                return kept
            if time.monotonic() > deadline:
                raise AssertionError(f"the kept grid of {ws} never {what}")
            self.page.wait_for_timeout(100)

    def wait_role(self, role: str, timeout_s: float = 60.0) -> None:
        """Poll the worker until this tab has `role` ('owner' or 'client')."""
        deadline = time.monotonic() + timeout_s
        while True:
            workspace = self.stats()["workspace"]
            if workspace and workspace["role"] == role:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"tab role is {workspace and workspace['role']!r}, expected {role!r}")
            self.page.wait_for_timeout(100)

    def shot(self, directory: Path, name: str, **kwargs: Any) -> None:
        self.page.screenshot(path=str(directory / f"{name}.png"), **kwargs)

    TABLET = ((1180, 820), (820, 1180))

    def tablet_shots(self, directory: Path, name: str, show: Any = None, *, ready: bool = True,
                     restore: bool = True) -> None:
        """`name-<engine>-<w>x<h>.png` at both tablet sizes: the page is opened again at each size, as on
        the device (the layout's own choices, e.g. the sidebar closed in portrait), then `show()` brings
        the screen to the state to be seen. The viewport is back at 1280 x 800 afterwards. `ready=False`:
        the app is not expected to finish starting (the opening screen), `show()` waits for what it needs.
        `restore=False`: the page is not opened again at 1280 x 800 (a start of Python saved) because the
        caller's next step loads a page itself (e.g. the next tablet_shots)."""
        for width, height in self.TABLET:
            self.page.set_viewport_size({"width": width, "height": height})
            self.page.reload()
            if ready:
                self.wait_ready()
            self.page.evaluate("window.scrollTo(0, 0)")  # a reload restores the old scroll position
            if show is not None:
                show()
            self.shot(directory, f"{name}-{self.engine}-{width}x{height}")
        self.page.set_viewport_size({"width": 1280, "height": 800})
        if not restore:
            return
        self.page.reload()
        if ready:
            self.wait_ready()
        elif show is not None:
            show()
