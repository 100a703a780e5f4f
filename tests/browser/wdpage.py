"""The WebDriver side of the driver layer: a page, its locators and its keyboard, for WebKitGTK.

Two-engine tests are written once against a small subset of Playwright's sync API (the page's
`goto`, `reload`, `evaluate`, `get_by_role`, `get_by_label`, `locator`, `keyboard`; a locator's
`click`, `fill`, `check`, `select_option`, `set_input_files`, `press`, `inner_text`...; and
`expect(...)` with `to_have_text`, `to_contain_text`, `to_be_visible`...). In Chromium that *is*
Playwright. In WebKit these classes do the same through Selenium and WebKitWebDriver:

* a locator is a chain of steps resolved afresh on every use by `wdfind.js` in the page (so a
  re-rendered screen never leaves a stale handle), with Playwright's rules for roles, accessible
  names and labels, and its strictness (an action on a locator that matches several elements fails);
* actions go through WebDriver's real input (element click, key actions, typing), after waiting
  for the element to be there and enabled, like Playwright's actionability checks;
* `expect` polls a condition until it holds or a generous bound passes (wait for states, never
  for time).

Anything outside the subset raises AttributeError at once, naming what is missing: add it here
(and to docs/web.md's list) rather than reaching for the driver.
"""

from __future__ import annotations

import contextlib
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    JavascriptException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

FIND_JS = (Path(__file__).with_name("wdfind.js")).read_text()
ACTION_TIMEOUT_S = 30.0
EXPECT_TIMEOUT_S = 30.0
POLL_S = 0.05

KEYS = {
    "Enter": Keys.ENTER, "Tab": Keys.TAB, "Escape": Keys.ESCAPE, "Backspace": Keys.BACKSPACE,
    "Delete": Keys.DELETE, "Home": Keys.HOME, "End": Keys.END, "PageUp": Keys.PAGE_UP, "PageDown": Keys.PAGE_DOWN,
    "ArrowUp": Keys.ARROW_UP, "ArrowDown": Keys.ARROW_DOWN, "ArrowLeft": Keys.ARROW_LEFT,
    "ArrowRight": Keys.ARROW_RIGHT,
    "F2": Keys.F2, "Space": Keys.SPACE, " ": Keys.SPACE,
}
MODIFIERS = {"Control": Keys.CONTROL, "Shift": Keys.SHIFT, "Alt": Keys.ALT, "Meta": Keys.META}

# Runs a Playwright-style `evaluate` expression: a function's source (called with the argument,
# awaited) or an expression (its value, awaited).
EVALUATE_JS = """
const [source, arg, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
(async () => {
  const value = (0, eval)(`(${source})`);
  return typeof value === 'function' ? await value(arg) : await value;
})().then((ok) => done({ ok: ok === undefined ? null : ok }),
           (err) => done({ error: String(err && err.stack ? err.stack : err) }));
"""


# In view (inside its scrolled box too), steady and hit: the element's box is the same over two animation
# frames, and the point a click aims at (WebDriver's in-view centre point: the centre of the element's first
# box, clipped to the viewport) hits the element itself, not something over it or moved into its place. A
# window whose frames do not run (not shown) answers after a second instead. `align` (after a miss): scrolled
# there in every scrolled box (a sticky header or column may cover the element where it was). Answers
# {ok, steady, hit, x, y}: `hit` describes what is at that point.
ACTIONABLE_JS = """
const [e, align, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const box = () => { const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; };
const [x, y, w, h] = box();
if (align) e.scrollIntoView({block: align, inline: align});
else if (x < 0 || y < 0 || x + w > innerWidth || y + h > innerHeight) {
  e.scrollIntoView({block: 'center', inline: 'nearest'});
}
const before = box().join();
const name = (n) => n ? `<${n.localName}${n.id ? '#' + n.id : ''}> `
    + JSON.stringify((n.textContent || '').trim().slice(0, 40)) : 'nothing';
const answer = () => {
  const steady = e.isConnected && box().join() === before;
  const r = e.getClientRects()[0] || e.getBoundingClientRect();
  const left = Math.max(r.left, 0), right = Math.min(r.right, innerWidth);
  const top = Math.max(r.top, 0), bottom = Math.min(r.bottom, innerHeight);
  const [px, py] = [(left + right) / 2, (top + bottom) / 2];
  const at = right > left && bottom > top ? e.ownerDocument.elementFromPoint(px, py) : null;
  const mine = Boolean(at && (e.contains(at) || (at.closest('label') && at.closest('label').control === e)));
  done({ok: steady && mine, steady, hit: mine ? 'the element' : name(at), x: px, y: py});
};
const late = setTimeout(answer, 1000);
requestAnimationFrame(() => requestAnimationFrame(() => { clearTimeout(late); answer(); }));
"""

# Playwright's hit-target interceptor, for one click: until the click is over, a trusted pointer or mouse press
# or release (and the first click) whose target is not the element (or inside it, or a label of it) is
# stopped before the page sees it, and noted. A click that went elsewhere then changed nothing in the page,
# so the click can be aimed again; one that reached the element is let through untouched.
ARM_JS = """
const e = arguments[0];
const win = e.ownerDocument.defaultView;
const name = (n) => n ? `<${n.localName}${n.id ? '#' + n.id : ''}> `
    + JSON.stringify((n.textContent || '').trim().slice(0, 40)) : 'nothing';
const record = {events: [], stop: null};
const label = (t) => t instanceof Element && t.closest('label');
const mine = (t) => t instanceof Node && (e.contains(t) || (label(t) && label(t).control === e));
const judge = (event) => {
  if (!event.isTrusted) return;
  if (event.type === 'click' && record.events.some(([type]) => type === 'click')) return; // a label's forwarded click
  const ok = Boolean(mine(event.target));
  record.events.push([event.type, ok, ok ? 'the element' : name(event.target)]);
  if (!ok) { event.stopImmediatePropagation(); event.preventDefault(); }
};
const types = ['pointerdown', 'mousedown', 'pointerup', 'mouseup', 'click'];
for (const type of types) win.addEventListener(type, judge, true);
record.stop = () => { for (const type of types) win.removeEventListener(type, judge, true); };
win.__wdClick = record;
"""

# The interceptor's record, and the interceptor taken down: null when the page was replaced by the click
# (a navigation: the click was delivered).
DISARM_JS = """
const record = window.__wdClick;
if (!record) return null;
record.stop();
delete window.__wdClick;
return record.events;
"""


# What a page shows, as text, for a failure (both engines; conftest writes it beside a failed test's
# screenshots, and a WebKit `expect` that times out says the short form): the address, the body's flags,
# where focus is, the open dialogs, the page's uncaught errors, the engine line, what every status and alert
# says now (a form's "Not created: ...": a long one's start and end, where a traceback names its cause), whether
# each store of the address's workspace database answers a read and which Web Locks are held (a tab that
# stops opening waits on one of those), and what the page says (all of it, not only what is in view).
PAGE_STATE_JS = """async () => {
const answer = (promise) => Promise.race([promise.then((v) => String(v), (e) => `failed: ${e}`),
    new Promise((r) => setTimeout(() => r('NO ANSWER in 2 s'), 2000))]);
const request = (make) => new Promise((resolve, reject) => {
  const r = make();
  r.onsuccess = () => resolve(r.result);
  r.onerror = () => reject(r.error);
});
const storageProbe = async () => {
  const named = /^#\\/w\\/([^/]+)/.exec(location.hash);
  if (!named) return 'no workspace in the address';
  const name = `openprod-ws-${named[1]}`;
  const parts = [];
  if (indexedDB.databases) { // opening one this browser does not have would make it
    const listed = await answer(indexedDB.databases().then((all) => all.some((d) => d.name === name)));
    if (listed === 'false') return `no ${name}`;
    if (listed !== 'true') parts.push(`the list of databases: ${listed}`);
  }
  let db = null;
  const opened = request(() => indexedDB.open(name)).then((d) => { db = d; return d.version; });
  parts.push(`open ${await answer(opened)}`);
  if (db) {
    for (const store of db.objectStoreNames) {
      const read = request(() => db.transaction(store, 'readonly').objectStore(store).count());
      parts.push(`${store} ${await answer(read)}`);
    }
    db.close();
  }
  if (navigator.locks) {
    parts.push(`locks ${await answer(navigator.locks.query().then((q) => JSON.stringify(
        { held: q.held.map((l) => l.name), pending: q.pending.map((l) => l.name) })))}`);
  }
  return parts.join(', ');
};
return [
  `url: ${location.href}`,
  `opening (page): ${JSON.stringify(window.openprodOpening || [])}`,
  `opening (worker): ${window.openprod ? await Promise.race([
      window.openprod.api.stats().then((s) => JSON.stringify(s.opening), (e) => `stats failed: ${e}`),
      new Promise((r) => setTimeout(() => r('the worker did not answer in 3 s'), 3000))]) : 'no app yet'}`,
  `body: ${JSON.stringify({...document.body.dataset})}`,
  `focus: ${document.activeElement ? document.activeElement.outerHTML.slice(0, 200) : null}`,
  `dialogs: ${JSON.stringify([...document.querySelectorAll('dialog')].map((d) => [d.open, d.className,
      d.innerText.slice(0, 300)]))}`,
  `errors: ${JSON.stringify(window.openprodErrors || [])}`,
  `engine: ${(document.getElementById('engine-status') || {}).textContent}`,
  `storage: ${await storageProbe()}`,
  `statuses: ${JSON.stringify([...document.querySelectorAll('[role=status], [role=alert]')]
      .filter((s) => !s.hidden && s.textContent.trim()).map((s) => s.textContent.trim())
      .map((t) => (t.length > 320 ? `${t.slice(0, 100)} … ${t.slice(-200)}` : t)))}`,
  '--- page text ---', document.body.innerText,
].join('\\n');
}"""
STATE_TEXT_CHARS = 1500  # of the page's text, in a failure message (CI keeps only the log)


def page_state(page: Any, *, short: bool = False) -> str:
    """PAGE_STATE_JS for `page` (a Playwright or WebDriver page); `short` cuts the page's text. Never raises:
    a page that cannot answer says why instead."""
    try:
        state = str(page.evaluate(PAGE_STATE_JS))
    except Exception as exc:  # a diagnosis must not hide the failure it describes
        return f"(the page did not answer: {type(exc).__name__}: {str(exc)[:200]})"
    if short:
        head, _, text = state.partition("--- page text ---")
        text = " ".join(text.split())
        state = f"{head}--- page text ---\n{text[:STATE_TEXT_CHARS]}{' …' if len(text) > STATE_TEXT_CHARS else ''}"
    return state


class EvaluationError(Exception):
    """The page's JavaScript threw (the message and stack are the page's)."""


def _matcher(value: str | re.Pattern[str] | None, exact: bool = False) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, re.Pattern):
        flags = "i" if value.flags & re.IGNORECASE else ""
        return {"regex": _js_regex(value.pattern), "flags": flags}
    return {"text": value, "exact": exact}


def _js_regex(pattern: str) -> str:
    """The few Python-only regex spellings the tests use, in JavaScript's."""
    return pattern.replace(r"\Z", "$").replace("(?P<", "(?<")


def _text_ok(actual: str, expected: str | re.Pattern[str], *, contains: bool) -> bool:
    norm = " ".join(actual.split())
    if isinstance(expected, re.Pattern):
        return re.search(expected, norm) is not None
    wanted = " ".join(expected.split())
    return wanted in norm if contains else norm == wanted


class WebDriverPage:
    """One window of the WebDriver session (a tab of the profile), with Playwright's page surface."""

    def __init__(self, profile: Any, handle: str) -> None:
        self.context = profile
        self.handle = handle
        self.keyboard = Keyboard(self)
        self.mouse = Mouse(self)
        self.closed = False
        self._print_emulated = False

    # --- plumbing --------------------------------------------------------------------------

    @property
    def driver(self) -> WebDriver:
        driver: WebDriver = self.context.driver
        if self.closed:
            raise RuntimeError("this page was closed")
        if self.context.current_handle != self.handle:
            driver.switch_to.window(self.handle)
            self.context.current_handle = self.handle
        return driver

    def find(self, chain: list[dict[str, Any]], want: str) -> Any:
        return self.driver.execute_script(FIND_JS, chain, want)

    # --- Playwright's page surface ---------------------------------------------------------

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    def goto(self, url: str) -> None:
        """Like Playwright in Chromium: an address that differs only after '#' is a same-document
        navigation (WebKit's WebDriver would load the page again when the address is unchanged)."""
        base, _, fragment = url.partition("#")
        if fragment and base == self.url.partition("#")[0]:
            self.evaluate("(h) => { if (location.hash !== h) location.hash = h; }", f"#{fragment}")
            return
        self._print_emulated = False
        self.driver.get(url)

    def reload(self) -> None:
        self._print_emulated = False
        self.driver.refresh()

    def go_back(self) -> None:
        self._print_emulated = False
        self.driver.back()

    def close(self) -> None:
        """Close this window at once (no unload grace), like a person closing the tab."""
        if not self.closed:
            self.context.close_page(self)

    def evaluate(self, expression: str, arg: Any = None) -> Any:
        result = self.driver.execute_async_script(EVALUATE_JS, expression, arg)
        if "error" in result:
            raise EvaluationError(result["error"])
        return result["ok"]

    def wait_for_function(self, expression: str, arg: Any = None, timeout: float | None = None,
                          polling: float | None = None) -> Any:
        """Poll `expression` until it is truthy; `timeout` and `polling` in ms, as in Playwright."""
        deadline = time.monotonic() + (timeout / 1000 if timeout else ACTION_TIMEOUT_S)
        while True:
            value = self.evaluate(expression, arg)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout or ACTION_TIMEOUT_S * 1000:.0f} ms for {expression!r}")
            time.sleep((polling or 50) / 1000)

    def wait_for_selector(self, selector: str, timeout: float | None = None, state: str = "visible") -> None:
        loc = self.locator(selector)
        bound = timeout / 1000 if timeout else ACTION_TIMEOUT_S
        if state == "attached":
            _poll(lambda: loc.count() > 0, bound, f"{selector} in the page")
        else:
            _poll(lambda: any(s["visible"] for s in loc.states()), bound, f"{selector} visible")

    def wait_for_url(self, pattern: str | re.Pattern[str], timeout: float | None = None) -> None:
        test = (lambda u: re.search(pattern, u) is not None) if isinstance(pattern, re.Pattern) else (
            lambda u: u == pattern)
        _poll(lambda: test(self.url), timeout / 1000 if timeout else ACTION_TIMEOUT_S, f"the address {pattern}")

    def wait_for_timeout(self, ms: float) -> None:
        """Only for polling loops that wait for a state (never to wait for time itself)."""
        time.sleep(ms / 1000)

    def locator(self, selector: str, has_text: str | re.Pattern[str] | None = None,
                has: Locator | None = None) -> Locator:
        return Locator(self, []).locator(selector, has_text=has_text, has=has)

    def get_by_role(self, role: str, name: str | re.Pattern[str] | None = None, exact: bool = False) -> Locator:
        return Locator(self, []).get_by_role(role, name=name, exact=exact)

    def get_by_label(self, text: str | re.Pattern[str], exact: bool = False) -> Locator:
        return Locator(self, []).get_by_label(text, exact=exact)

    def get_by_text(self, text: str | re.Pattern[str], exact: bool = False) -> Locator:
        return Locator(self, []).get_by_text(text, exact=exact)

    def screenshot(self, path: str, full_page: bool = False) -> None:
        """The viewport (WebKitWebDriver has no full-page capture); `full_page` is accepted and ignored."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # WebKit's capture is the last painted frame: let the page paint what it shows now first
        self.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 0))))")
        self.driver.save_screenshot(path)

    def set_viewport_size(self, size: dict[str, int]) -> None:
        self.context.set_viewport(self, size["width"], size["height"])

    @property
    def viewport_size(self) -> dict[str, int]:
        w, h = self.evaluate("[innerWidth, innerHeight]")
        return {"width": int(w), "height": int(h)}

    def emulate_media(self, media: str | None = None) -> None:
        """WebDriver cannot switch media types: the page's `@media print` rules are applied as screen rules
        (copied into one style element), which shows what the print stylesheet hides and shows."""
        self.evaluate("""(on) => {
            document.querySelectorAll('style[data-emulated-print]').forEach((s) => s.remove());
            if (!on) return;
            const rules = [];
            for (const sheet of document.styleSheets) {
                for (const rule of sheet.cssRules) {
                    if (rule instanceof CSSMediaRule && [...rule.media].includes('print')) {
                        for (const inner of rule.cssRules) {
                            if (!(inner instanceof CSSPageRule)) rules.push(inner.cssText);
                        }
                    }
                }
            }
            const style = document.createElement('style');
            style.dataset.emulatedPrint = 'true';
            style.textContent = rules.join('\\n');
            document.head.append(style);
        }""", media == "print")
        self._print_emulated = media == "print"

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"WebDriverPage has no {name!r}: not in the two-engine subset (tests/browser/wdpage.py)")


class Keyboard:
    def __init__(self, page: WebDriverPage) -> None:
        self.page = page

    def press(self, keys: str) -> None:
        """"Enter", "Control+z", "Shift+ArrowDown": modifiers held while the last key is pressed."""
        parts = keys.split("+") if keys != "+" else ["+"]
        *mods, key = parts
        chain = ActionChains(self.page.driver)
        for mod in mods:
            chain.key_down(MODIFIERS[mod])
        chain.send_keys(KEYS.get(key, key))
        for mod in reversed(mods):
            chain.key_up(MODIFIERS[mod])
        chain.perform()

    def type(self, text: str) -> None:
        ActionChains(self.page.driver).send_keys(text).perform()


class Mouse:
    """Playwright's `page.mouse`: WebDriver's pointer actions at page coordinates (CSS pixels from the
    viewport's top left), for a press or tap where no element is to be aimed at (a dialog's backdrop)."""

    def __init__(self, page: WebDriverPage) -> None:
        self.page = page

    def _perform(self, steps: Callable[[Any], Any]) -> None:
        builder = ActionBuilder(self.page.driver)
        steps(builder.pointer_action)
        builder.perform()

    def move(self, x: float, y: float) -> None:
        self._perform(lambda p: p.move_to_location(round(x), round(y)))

    def down(self) -> None:
        self._perform(lambda p: p.pointer_down())

    def up(self) -> None:
        self._perform(lambda p: p.pointer_up())

    def click(self, x: float, y: float) -> None:
        self._perform(lambda p: p.move_to_location(round(x), round(y)).click())

    def dblclick(self, x: float, y: float) -> None:
        self._perform(lambda p: p.move_to_location(round(x), round(y)).double_click())


def _poll(check: Callable[[], bool], bound_s: float, what: str) -> None:
    deadline = time.monotonic() + bound_s
    while True:
        try:
            if check():
                return
        except (StaleElementReferenceException, JavascriptException):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {bound_s:.0f} s for {what}")
        time.sleep(POLL_S)


class Locator:
    """Playwright's Locator, for WebDriver: a chain of steps resolved in the page on every use."""

    def __init__(self, page: WebDriverPage, chain: list[dict[str, Any]]) -> None:
        self.page = page
        self.chain = chain

    def __repr__(self) -> str:
        return f"Locator({self.chain})"

    def _then(self, step: dict[str, Any]) -> Locator:
        return Locator(self.page, [*self.chain, step])

    # --- narrowing ---------------------------------------------------------------------------

    def locator(self, selector: str, has_text: str | re.Pattern[str] | None = None,
                has: Locator | None = None) -> Locator:
        return self._then({"kind": "css", "css": selector, "hasText": _matcher(has_text),
                           "has": has.chain if has is not None else None})

    def get_by_role(self, role: str, name: str | re.Pattern[str] | None = None, exact: bool = False) -> Locator:
        return self._then({"kind": "role", "role": role, "name": _matcher(name, exact)})

    def get_by_label(self, text: str | re.Pattern[str], exact: bool = False) -> Locator:
        return self._then({"kind": "label", "text": _matcher(text, exact)})

    def get_by_text(self, text: str | re.Pattern[str], exact: bool = False) -> Locator:
        return self._then({"kind": "text", "text": _matcher(text, exact)})

    def filter(self, has_text: str | re.Pattern[str]) -> Locator:
        return self._then({"kind": "filter", "hasText": _matcher(has_text)})

    def nth(self, index: int) -> Locator:
        return self._then({"kind": "nth", "index": index})

    @property
    def first(self) -> Locator:
        return self.nth(0)

    @property
    def last(self) -> Locator:
        return self.nth(-1)

    # --- reading -----------------------------------------------------------------------------

    def elements(self) -> list[WebElement]:
        """The matching elements now. WebKit's driver refuses to hand back an element the page
        removed while the script returned it (a grid redraw): then the page is asked again."""
        deadline = time.monotonic() + ACTION_TIMEOUT_S
        while True:
            try:
                found: list[WebElement] = self.page.find(self.chain, "elements")
                return found
            except StaleElementReferenceException:
                if time.monotonic() > deadline:
                    raise

    def states(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.page.find(self.chain, "state")
        return found

    def count(self) -> int:
        return int(self.page.find(self.chain, "count"))

    def _one(self, bound_s: float = ACTION_TIMEOUT_S, *, enabled: bool = False) -> WebElement:
        """Wait until exactly one element matches (and is visible and enabled when acting on it)."""
        deadline = time.monotonic() + bound_s
        while True:
            found = self.elements()
            if len(found) > 1:
                raise AssertionError(f"strict mode: {self} matches {len(found)} elements")
            if found:
                el = found[0]
                try:
                    if not enabled or (el.is_enabled() and self.page.driver.execute_script(
                            "const r = arguments[0].getBoundingClientRect(); return r.width > 0 && r.height > 0", el)):
                        return el
                except StaleElementReferenceException:
                    pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {bound_s:.0f} s for {self}{' to be actionable' if enabled else ''}")
            time.sleep(POLL_S)

    def _read(self, script: str, *args: Any) -> Any:
        """Run `script` on the one matching element; an element redrawn between finding and
        reading (a grid refresh) is found again, as a Playwright locator would."""
        deadline = time.monotonic() + ACTION_TIMEOUT_S
        while True:
            try:
                return self.page.driver.execute_script(script, self._one(), *args)
            except StaleElementReferenceException:
                if time.monotonic() > deadline:
                    raise

    def inner_text(self) -> str:
        return str(self._read("return arguments[0].innerText"))

    def text_content(self) -> str:
        return str(self._read("return arguments[0].textContent"))

    def all_inner_texts(self) -> list[str]:
        return [s["innerText"] for s in self.states()]

    def input_value(self) -> str:
        return str(self._read("return arguments[0].value"))

    def get_attribute(self, name: str) -> str | None:
        value = self._read("return arguments[0].getAttribute(arguments[1])", name)
        return None if value is None else str(value)

    def is_visible(self) -> bool:
        states = self.states()
        return bool(states) and states[0]["visible"]

    def is_checked(self) -> bool:
        return bool(self._read("return arguments[0].checked"))

    def bounding_box(self) -> dict[str, float]:
        box: dict[str, float] = self._read(
            "const r = arguments[0].getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}")
        return box

    def evaluate(self, expression: str, arg: Any = None) -> Any:
        """`expression` is a function of the element (and `arg`), as in Playwright."""
        return self._read("return (0, eval)(`(${arguments[1]})`)(arguments[0], arguments[2])", expression, arg)

    # --- acting ------------------------------------------------------------------------------

    def _act(self, action: Callable[[WebElement], None]) -> None:
        deadline = time.monotonic() + ACTION_TIMEOUT_S
        while True:
            el = self._one(enabled=True)
            try:
                action(el)
                return
            except (StaleElementReferenceException, ElementClickInterceptedException,
                    ElementNotInteractableException) as exc:
                if time.monotonic() > deadline:
                    raise
                if isinstance(exc, ElementNotInteractableException):
                    # WebKitWebDriver scrolls the page, not a scrolled box inside it (the sidebar, once its
                    # list outgrew the window): bring the element into view as a person would, then retry.
                    with contextlib.suppress(StaleElementReferenceException):
                        self.page.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
                time.sleep(POLL_S)

    def _steady(self, el: WebElement, *, hit: bool = False) -> None:
        """Playwright's actionability before a click: the element in view (scrolled there inside its
        scrolled box, which WebKitWebDriver does not do), not moving (the same box over two frames) and,
        with `hit`, the element itself at the point the click aims at (WebDriver checks that only before
        it scrolls and moves the pointer). WebKit aims input at what was last painted: a click sent just
        after a scroll, on a loaded machine, landed on whatever had been at that spot before the scroll."""
        deadline = time.monotonic() + ACTION_TIMEOUT_S
        covered = 0  # times something else was at the click point: scrolled otherwise, as Playwright does
        while True:
            align = (None, "center", "end", "start")[covered % 4]
            state = self.page.driver.execute_async_script(ACTIONABLE_JS, el, align)
            if state["steady"] and (state["ok"] or not hit):
                return
            if state["steady"]:
                covered += 1
            if time.monotonic() > deadline:
                why = "to stop moving" if not state["steady"] else f"to receive the click ({state['hit']} is there)"
                raise TimeoutError(f"waited {ACTION_TIMEOUT_S:.0f} s for {self} {why}")
            time.sleep(POLL_S)

    def click(self) -> None:
        """Playwright's click: wait until the element is in view, steady and the one a click at its centre
        hits; click it with the hit-target interceptor armed (ARM_JS). Should the press or release still
        land elsewhere (the page moved between the check and the input), the interceptor keeps it from
        the page and the click waits and aims again, as Playwright does; every miss is named if it never
        lands. A click that reached no element at all is an error, never sent twice."""
        misses: list[list[Any]] = []
        deadline = time.monotonic() + ACTION_TIMEOUT_S

        def click(el: WebElement) -> None:
            while True:
                self._steady(el, hit=True)
                self.page.driver.execute_script(ARM_JS, el)
                try:
                    el.click()
                finally:
                    events = self.page.driver.execute_script(DISARM_JS)
                if events is None or any(kind == "click" and ok for kind, ok, _ in events):
                    return
                if not events:
                    raise AssertionError(f"the click on {self} reached no element of the page")
                misses.append(events)
                # said in the run's warnings summary (CI keeps only the log): how often the page moved
                warnings.warn(f"wdpage: a click on {self} landed elsewhere and was kept from the page, aimed again: "
                              f"{events}", stacklevel=4)
                if time.monotonic() > deadline:
                    raise AssertionError(f"the click on {self} kept landing elsewhere (kept from the page): "
                                         f"{misses[-3:]}")
        self._act(click)

    def dblclick(self) -> None:
        """Two clicks at the element's centre, as one double click. WebDriver's pointer actions neither
        scroll nor find an element inside a scrolled box (WebKitWebDriver aimed one at the wrong place):
        the element is brought into view, steady, and its centre as the page sees it is clicked twice."""
        def double(el: WebElement) -> None:
            self._steady(el)
            x, y = self.page.driver.execute_script(
                "const r = arguments[0].getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];", el)
            self.page.mouse.dblclick(x, y)
        self._act(double)

    def focus(self) -> None:
        self._act(lambda el: self.page.driver.execute_script("arguments[0].focus()", el))

    def fill(self, value: str) -> None:
        """Replace the value, as Playwright's fill does: typed with real key events into a text field,
        set directly (with input and change events) where keys cannot type it (tabs, other input types)."""
        def fill(el: WebElement) -> None:
            typed = self.page.driver.execute_script("""
                const [e, value] = arguments;
                const text = e.localName === 'textarea' || (e.localName === 'input'
                    && ['text', 'search', 'email', 'tel', 'url', 'password'].includes(e.type));
                e.focus();
                if (text && !/[\\t\\n\\r]/.test(value)) {
                    e.value = '';
                    e.dispatchEvent(new InputEvent('input', {bubbles: true, inputType: 'deleteContentBackward'}));
                    return true;
                }
                e.value = value;
                e.dispatchEvent(new InputEvent('input', {bubbles: true, inputType: 'insertText', data: value}));
                e.dispatchEvent(new Event('change', {bubbles: true}));
                return false;""", el, value)
            if typed and value:
                el.send_keys(value)
            # typed keys go wherever focus is: a field that does not hold `value` now lost some of them, or the
            # app changed what was typed (a merge, a limit): said in the run's warnings summary, not failed
            held = self.page.driver.execute_script("return arguments[0].value", el)
            if held != value:
                warnings.warn(f"wdpage: filling {self} with {value!r} left {held!r} in it", stacklevel=3)
        self._act(fill)

    def press(self, key: str) -> None:
        self.focus()
        self.page.keyboard.press(key)

    def check(self) -> None:
        if not self.is_checked():
            self.click()

    def uncheck(self) -> None:
        if self.is_checked():
            self.click()

    def select_option(self, value: str | None = None, label: str | None = None) -> None:
        """Choose an option by its value or its visible text; fires input and change, as a person's choice does."""
        def choose(el: WebElement) -> None:
            ok = self.page.driver.execute_script("""
                const [select, value, label] = arguments;
                const option = [...select.options].find((o) => (value !== null && o.value === value)
                    || (label !== null && o.textContent.trim() === label));
                if (!option) return false;
                select.value = option.value;
                select.dispatchEvent(new Event('input', {bubbles: true}));
                select.dispatchEvent(new Event('change', {bubbles: true}));
                return true;""", el, value, label)
            if not ok:
                raise AssertionError(f"no option {value or label!r} in {self}")
        self._act(choose)

    def set_input_files(self, path: str) -> None:
        self._one().send_keys(str(Path(path).resolve()))

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"Locator has no {name!r}: not in the two-engine subset (tests/browser/wdpage.py)")


class Expectation:
    """`expect(locator)` for WebDriver locators: Playwright's assertions, polled until they hold."""

    def __init__(self, locator: Locator) -> None:
        self.loc = locator

    def _wait(self, check: Callable[[list[dict[str, Any]]], bool], what: str, timeout: float | None) -> None:
        bound = timeout / 1000 if timeout else EXPECT_TIMEOUT_S
        deadline = time.monotonic() + bound
        states: list[dict[str, Any]] = []
        while True:
            try:
                states = self.loc.states()
                if check(states):
                    return
            except (StaleElementReferenceException, JavascriptException):
                pass
            if time.monotonic() > deadline:
                seen = [(s["text"][:120], s["className"], s["visible"]) for s in states[:3]]
                raise AssertionError(f"{self.loc}: expected {what} within {bound:.0f} s; found {len(states)}: {seen}\n"
                                     f"The page then:\n{page_state(self.loc.page, short=True)}")
            time.sleep(POLL_S)

    @staticmethod
    def _single(states: list[dict[str, Any]]) -> dict[str, Any] | None:
        if len(states) > 1:
            raise AssertionError(f"strict mode: {len(states)} elements match")
        return states[0] if states else None

    def to_have_text(self, expected: str | re.Pattern[str], timeout: float | None = None) -> None:
        def ok(states: list[dict[str, Any]]) -> bool:
            s = self._single(states)
            return s is not None and _text_ok(s["text"], expected, contains=False)
        self._wait(ok, f"text {expected!r}", timeout)

    def to_contain_text(self, expected: str | re.Pattern[str], timeout: float | None = None) -> None:
        def ok(states: list[dict[str, Any]]) -> bool:
            s = self._single(states)
            return s is not None and _text_ok(s["text"], expected, contains=True)
        self._wait(ok, f"text containing {expected!r}", timeout)

    def not_to_contain_text(self, expected: str | re.Pattern[str], timeout: float | None = None) -> None:
        def ok(states: list[dict[str, Any]]) -> bool:
            s = self._single(states)
            return s is not None and not _text_ok(s["text"], expected, contains=True)
        self._wait(ok, f"text without {expected!r}", timeout)

    def to_have_class(self, expected: str | re.Pattern[str], timeout: float | None = None) -> None:
        def ok(states: list[dict[str, Any]]) -> bool:
            s = self._single(states)
            if s is None:
                return False
            if isinstance(expected, re.Pattern):
                return re.search(expected, s["className"]) is not None
            return s["className"] == expected
        self._wait(ok, f"class {expected!r}", timeout)

    def to_be_visible(self, timeout: float | None = None) -> None:
        self._wait(lambda states: (s := self._single(states)) is not None and s["visible"], "visible", timeout)

    def to_be_hidden(self, timeout: float | None = None) -> None:
        self._wait(lambda states: all(not s["visible"] for s in states), "hidden", timeout)

    def to_have_count(self, count: int, timeout: float | None = None) -> None:
        self._wait(lambda states: len(states) == count, f"{count} elements", timeout)

    def to_have_attribute(self, name: str, value: str | re.Pattern[str], timeout: float | None = None) -> None:
        def ok(states: list[dict[str, Any]]) -> bool:
            s = self._single(states)
            actual = s["attributes"].get(name) if s else None
            if actual is None:
                return False
            return re.search(value, actual) is not None if isinstance(value, re.Pattern) else actual == value
        self._wait(ok, f"{name}={value!r}", timeout)

    def to_have_value(self, value: str, timeout: float | None = None) -> None:
        self._wait(lambda states: (s := self._single(states)) is not None and s["value"] == value,
                   f"value {value!r}", timeout)

    def to_be_checked(self, timeout: float | None = None) -> None:
        self._wait(lambda states: (s := self._single(states)) is not None and bool(s["checked"]), "checked", timeout)

    def to_be_focused(self, timeout: float | None = None) -> None:
        self._wait(lambda states: (s := self._single(states)) is not None and s["focused"], "focused", timeout)

    def to_be_in_viewport(self, timeout: float | None = None) -> None:
        self._wait(lambda states: (s := self._single(states)) is not None and s["inViewport"], "in the viewport",
                   timeout)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"expect(...) has no {name!r} for WebDriver: not in the two-engine subset")
