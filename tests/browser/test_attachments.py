"""Attachments in the app, in real Chromium against a real relay process: attach a photo and a PDF
from a tablet's file picker, see the thumbnail; a second person's browser gets them through the
relay on demand ("Not on this device yet" -> Get it now) and opens them after going offline; a
50 MiB PDF between two browsers through the relay, resumed after a reload mid-transfer (only the
rest is asked for) and opened offline afterwards; screenshots at
tablet sizes, light and dark."""

from __future__ import annotations

import hashlib
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect
from test_a11y import AXE, violations
from test_sync import person, wait_state

sys.path.insert(0, str(Path(__file__).parent.parent / "server"))
from relayproc import wait_until

pytestmark = pytest.mark.browser

TABLE = "files.Files"
TITLE = f"{TABLE}.title"
BIG_TIMEOUT_MS = 600_000


def png(width: int = 64, height: int = 48) -> bytes:
    """A real PNG: a stage-blue gradient (so the thumbnail is visibly an image)."""
    rows = b"".join(b"\x00" + b"".join(bytes((20 + x * 3 % 200, 60 + y * 3 % 180, 160)) for x in range(width))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def pdf(padding: int = 0) -> bytes:
    """A one-page PDF saying "Act 1 lighting plot"; `padding` bytes of a stream object make it big."""
    text = b"BT /F1 24 Tf 72 720 Td (Act 1 lighting plot) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % padding + bytes(range(256)) * (padding // 256) + bytes(padding % 256)
        + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def blob_id(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def new_files_workspace(app: AppPage) -> str:
    app.page.locator("input[name=module][value=files]").check()
    return app.create_workspace("Hamlet")


def open_form(app: AppPage, origin: str, ws: str, record: str) -> None:
    app.page.goto(f"{origin}#/w/{ws}/t/{TABLE}/r/{record}")
    # a failure bound only: the workspace may still be opening after a reload (Pyodide, loaded CI)
    expect(app.page.locator(".attachment")).to_be_visible(timeout=180_000)


def attach(app: AppPage, *, name: str, mime: str, data: bytes | None = None, path: Path | None = None) -> None:
    with app.page.expect_file_chooser() as chooser:
        app.page.get_by_role("button", name="Choose a file").click()
    if path is not None:
        chooser.value.set_files(str(path))
    else:
        chooser.value.set_files(files=[{"name": name, "mimeType": mime, "buffer": data}])
    expect(app.page.locator(".attachment-message")).to_have_text(f"{name} attached.", timeout=BIG_TIMEOUT_MS)


def relay_blob(server: Any, ws: str, data_id: str) -> Path:
    digest = data_id[7:]
    return server.data / "workspaces" / f"{ws}.blobs" / digest[:2] / digest


def viewer_bytes_hash(app: AppPage, selector: str) -> str:
    """SHA-256 of what the viewer shows (its blob: URL, read back in the page)."""
    return app.page.evaluate("""async (sel) => {
      const el = document.querySelector(sel);
      const url = el.src || el.data;
      const bytes = await (await fetch(url)).arrayBuffer();
      const digest = await crypto.subtle.digest('SHA-256', bytes);
      return 'sha256:' + [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
    }""", selector)


def wait_progress(app: AppPage, percent: int) -> int:
    """Wait until the form says "Getting it… N%" with N >= percent; return N."""
    handle = app.page.wait_for_function("""(least) => {
      const m = /Getting it… (\\d+)%/.exec(document.querySelector('.attachment-state')?.textContent || '');
      return m && Number(m[1]) >= least ? Number(m[1]) : null;
    }""", arg=percent, timeout=BIG_TIMEOUT_MS, polling=50)
    return int(handle.json_value())


def share_files(rtc_context: Any, server: Any) -> tuple[AppPage, AppPage, str, Any]:
    alice = person(rtc_context, server, "Alice Stage")
    ws = new_files_workspace(alice)
    alice.call("sync:publish", relay=server.origin, joinMode="open")
    bob_context = rtc_context(server)
    bob = AppPage(bob_context.new_page()).open(server.url)
    bob.ensure_identity("Bob Lights")
    bob.api("joinWorkspace", {"invite": f"{server.origin}/#/join/{ws}", "code": ""})
    return alice, bob, ws, bob_context


@pytest.mark.chromium_only(reason="drives the file chooser and offline emulation through Playwright")
def test_attach_a_photo_and_a_pdf_see_the_thumbnail_and_open_them_on_another_tablet_offline(
        rtc_context: Any, server: Any, screenshot_dir: Path) -> None:
    alice, bob, ws, bob_context = share_files(rtc_context, server)
    photo_rec = alice.call("create_record", table=TABLE, values={TITLE: "Set photo, Act 1"})["id"]
    plot_rec = alice.call("create_record", table=TABLE, values={TITLE: "Act 1 lighting plot"})["id"]
    photo, plot = png(), pdf()

    open_form(alice, server.origin, ws, photo_rec)
    expect(alice.page.get_by_text("No file yet.")).to_be_visible()
    attach(alice, name="set-act1.png", mime="image/png", data=photo)
    thumb = alice.page.locator("img.attachment-thumb")
    expect(thumb).to_be_visible()
    assert alice.page.evaluate("() => document.querySelector('img.attachment-thumb').naturalWidth") == 64
    expect(alice.page.locator(".attachment-state")).to_have_text("On this device")
    open_form(alice, server.origin, ws, plot_rec)
    attach(alice, name="act1-plot.pdf", mime="application/pdf", data=plot)
    expect(alice.page.locator(".attachment-tile")).to_have_text("PDF")
    if AXE.exists():  # the file control and its buttons are named and reachable
        assert violations(alice, "record form with a PDF") == []

    # The relay keeps every referenced file: it fetches both from Alice's tablet.
    for data in (photo, plot):
        path = relay_blob(server, ws, blob_id(data))
        wait_until(lambda p=path: p.exists(), 300, f"the relay to get {path.name}")
        assert path.read_bytes() == data

    # Bob: the records arrive, the files do not until asked.
    bob.page.goto(f"{server.url}#/w/{ws}/t/{TABLE}")
    bob.wait_grid()
    wait_state(bob, "in-sync")
    open_form(bob, server.origin, ws, plot_rec)
    expect(bob.page.locator(".attachment-state")).to_have_text("Not on this device yet")
    bob.tablet_shots(screenshot_dir, "attachment-not-here", show=lambda: expect(
        bob.page.get_by_role("button", name="Get it now")).to_be_visible(timeout=60_000))
    bob.page.get_by_role("button", name="Get it now").click()
    expect(bob.page.locator(".attachment-state")).to_have_text("On this device", timeout=120_000)
    bob.page.get_by_label("Keep on this device").check()
    expect(bob.page.locator(".attachment-state")).to_have_text("On this device, kept for offline")
    open_form(bob, server.origin, ws, photo_rec)
    bob.page.get_by_role("button", name="Get it now").click()
    expect(bob.page.locator("img.attachment-thumb")).to_be_visible(timeout=120_000)

    # Offline: the app reloads from the service worker and both files open from this device.
    bob.wait_offline_ready()
    bob_context.set_offline(True)
    bob.page.reload()
    bob.wait_ready()
    open_form(bob, server.origin, ws, photo_rec)
    expect(bob.page.locator("img.attachment-thumb")).to_be_visible(timeout=60_000)
    bob.page.get_by_role("button", name="Open", exact=True).click()
    expect(bob.page.locator("img.viewer-image")).to_be_visible()
    assert viewer_bytes_hash(bob, "img.viewer-image") == blob_id(photo)
    bob.page.keyboard.press("Escape")
    open_form(bob, server.origin, ws, plot_rec)
    bob.page.get_by_role("button", name="Open", exact=True).click()
    expect(bob.page.locator("iframe.viewer-pdf")).to_be_visible()
    assert bob.page.evaluate("() => document.querySelector('iframe.viewer-pdf').src.startsWith('blob:')")
    assert viewer_bytes_hash(bob, "iframe.viewer-pdf") == blob_id(plot)
    bob.page.keyboard.press("Escape")
    bob_context.set_offline(False)

    # Removing the local copy frees the space; the file stays with the show and comes back on demand.
    open_form(bob, server.origin, ws, photo_rec)
    bob.page.get_by_role("button", name="Remove from this device").click()
    expect(bob.page.locator(".attachment-state")).to_have_text("Not on this device yet")
    bob.page.get_by_role("button", name="Get it now").click()
    expect(bob.page.locator("img.attachment-thumb")).to_be_visible(timeout=120_000)

    # Screenshots: the form with a photo (Alice) and with a PDF kept offline (Bob), light and dark.
    for scheme in ("light", "dark"):
        for app, record, name in ((alice, photo_rec, "attachment-photo"), (bob, plot_rec, "attachment-pdf-kept")):
            app.page.emulate_media(color_scheme=scheme)
            for width, height in AppPage.TABLET:
                app.page.set_viewport_size({"width": width, "height": height})
                open_form(app, server.origin, ws, record)
                app.page.reload()  # as on the device: the layout's own choices (the sidebar closed in portrait)
                app.wait_ready()
                expect(app.page.locator(".attachment-state")).to_contain_text("On this device", timeout=60_000)
                app.shot(screenshot_dir, f"{name}-{width}x{height}-{scheme}")
    bob.page.emulate_media(color_scheme="light")
    bob.page.set_viewport_size({"width": 1180, "height": 820})
    open_form(bob, server.origin, ws, plot_rec)
    bob.page.get_by_role("button", name="Open", exact=True).click()
    expect(bob.page.locator("iframe.viewer-pdf")).to_be_visible()
    bob.shot(screenshot_dir, "attachment-pdf-viewer-1180x820-light")
    assert not [e for e in alice.errors + bob.errors if "attachment" in e.lower()]


@pytest.mark.chromium_only(reason="drives the file chooser and offline emulation through Playwright")
def test_a_50_mib_pdf_goes_between_two_browsers_through_the_relay_and_opens_offline(
        rtc_context: Any, server: Any, tmp_path: Path) -> None:
    big = pdf(50 * 2**20)
    path = tmp_path / "full-plot-set.pdf"
    path.write_bytes(big)
    alice, bob, ws, bob_context = share_files(rtc_context, server)
    rec = alice.call("create_record", table=TABLE, values={TITLE: "Full plot set"})["id"]
    open_form(alice, server.origin, ws, rec)
    attach(alice, name="full-plot-set.pdf", mime="application/pdf", path=path)
    # The relay fetches it from Alice's tablet (kept whole only once verified): wait for that state,
    # so no transfer is still running when Bob asks or when this test ends.
    kept = relay_blob(server, ws, blob_id(big))
    wait_until(lambda: kept.exists(), BIG_TIMEOUT_MS / 1000, "the relay to keep the 50 MiB PDF")
    assert kept.stat().st_size == len(big)
    bob.page.goto(f"{server.url}#/w/{ws}/t/{TABLE}")
    bob.wait_grid()
    wait_state(bob, "in-sync")
    open_form(bob, server.origin, ws, rec)
    expect(bob.page.locator(".attachment-size")).to_have_text("PDF · 50.0 MB")
    bob.page.get_by_role("button", name="Get it now").click()
    # Reload mid-transfer (once some of it is here: a state, not a time). The new page carries on
    # from the chunks this device kept: it asks the relay for less than the whole file.
    before = wait_progress(bob, 5)
    bob.page.reload()
    bob.wait_ready()
    open_form(bob, server.origin, ws, rec)
    expect(bob.page.locator(".attachment-state")).to_have_text("On this device", timeout=BIG_TIMEOUT_MS)
    asked = bob.call("blob:storage")["askedBytes"]
    assert 0 < asked <= len(big) - before * len(big) // 100 + 16 * 15 * 1024, (asked, before)
    bob.wait_offline_ready()
    bob_context.set_offline(True)
    bob.page.reload()
    bob.wait_ready()
    open_form(bob, server.origin, ws, rec)
    bob.page.get_by_role("button", name="Open", exact=True).click()
    expect(bob.page.locator("iframe.viewer-pdf")).to_be_visible()
    assert viewer_bytes_hash(bob, "iframe.viewer-pdf") == blob_id(big)


def report_free_space(app: AppPage, free: int | None) -> None:
    """The test seam for a full device: the worker's navigator.storage.estimate() (what the app's
    check calls) reports only `free` bytes left; None puts the browser's own answer back."""
    worker = next(w for w in app.page.workers if "worker.js" in w.url)
    worker.evaluate("""(free) => {
      delete navigator.storage.estimate;
      if (free === null) return;
      const real = StorageManager.prototype.estimate.bind(navigator.storage);
      Object.defineProperty(navigator.storage, 'estimate', {
        configurable: true,
        value: async () => { const e = await real(); return { ...e, quota: (e.usage || 0) + free }; },
      });
    }""", free)


def stored_blob_rows(app: AppPage, ws: str) -> dict[str, int]:
    """What this device's attachment database holds (rows of files and of their pieces)."""
    return app.page.evaluate("""async (name) => {
      if (!(await indexedDB.databases()).some((d) => d.name === name)) return { blobs: 0, chunks: 0, pins: 0 };
      const db = await new Promise((ok, fail) => {
        const r = indexedDB.open(name);
        r.onsuccess = () => ok(r.result);
        r.onerror = () => fail(r.error);
      });
      const count = (store) => new Promise((ok) => {
        const r = db.transaction(store).objectStore(store).count();
        r.onsuccess = () => ok(r.result);
      });
      const out = { blobs: await count('blobs'), chunks: await count('chunks'), pins: await count('pins') };
      db.close();
      return out;
    }""", f"openprod-blobs-{ws}")


@pytest.mark.chromium_only(reason="replaces navigator.storage.estimate inside the worker through Playwright's "
                           "worker.evaluate (WebDriver cannot reach a worker) and drives the file chooser")
def test_a_full_device_says_so_and_keeps_nothing_half_written(
        rtc_context: Any, server: Any, screenshot_dir: Path) -> None:
    alice = person(rtc_context, server, "Alice Stage")
    ws = new_files_workspace(alice)
    rec = alice.call("create_record", table=TABLE, values={TITLE: "Act 2 plot"})["id"]
    open_form(alice, server.origin, ws, rec)
    plot = pdf(5 * 2**20)
    full = ("This device is full: 3.0 MB free, and act2-plot.pdf needs 5.0 MB. Remove files you no longer "
            "need from this device (Remove from this device, under the file), or free space on the device.")

    # Attaching: refused before anything is stored, and the field stays empty.
    report_free_space(alice, 3 * 2**20)
    attach_refused = alice.page.locator(".attachment-message")
    with alice.page.expect_file_chooser() as chooser:
        alice.page.get_by_role("button", name="Choose a file").click()
    chooser.value.set_files(files=[{"name": "act2-plot.pdf", "mimeType": "application/pdf", "buffer": plot}])
    expect(attach_refused).to_have_text(f"Not attached: {full}", timeout=60_000)
    expect(alice.page.get_by_text("No file yet.")).to_be_visible()
    # said once, where it happened: the top bar does not claim that something was lost
    expect(alice.page.locator("#save-status")).not_to_have_attribute("data-state", "error")
    assert stored_blob_rows(alice, ws) == {"blobs": 0, "chunks": 0, "pins": 0}
    alice.tablet_shots(screenshot_dir, "attachment-device-full", show=lambda: (
        open_form(alice, server.origin, ws, rec), report_free_space(alice, 3 * 2**20),
        _choose(alice, "act2-plot.pdf", plot),
        expect(attach_refused).to_have_text(f"Not attached: {full}", timeout=60_000)))
    assert stored_blob_rows(alice, ws) == {"blobs": 0, "chunks": 0, "pins": 0}

    # Fetching a file another tablet attached (here: its reference put in the field, bytes elsewhere),
    # and keeping it for offline: the same words, no unfinished file, no pin left behind.
    ref = {"blob": blob_id(plot), "name": "act2-plot.pdf", "size": len(plot), "media_type": "application/pdf"}
    alice.call("attach", record=rec, field="files.Files.file", **ref)
    open_form(alice, server.origin, ws, rec)
    expect(alice.page.locator(".attachment-state")).to_have_text("Not on this device yet")
    report_free_space(alice, 3 * 2**20)
    alice.page.get_by_role("button", name="Get it now").click()
    expect(attach_refused).to_have_text(full)
    alice.page.get_by_label("Keep on this device").check()
    expect(attach_refused).to_have_text(full)
    expect(alice.page.get_by_label("Keep on this device")).not_to_be_checked()
    assert stored_blob_rows(alice, ws) == {"blobs": 0, "chunks": 0, "pins": 0}

    # With room again, and no connected device holding it, the person reads that (not a stuck bar).
    report_free_space(alice, None)
    alice.call("sync:publish", relay=server.origin, joinMode="open")
    wait_state(alice, "in-sync")  # connected: the relay is asked, and has not got it
    alice.page.get_by_role("button", name="Get it now").click()
    nowhere = "Not on any connected device. It comes when someone who has it connects."
    expect(alice.page.locator(".attachment-state")).to_have_text(nowhere, timeout=120_000)
    alice.tablet_shots(screenshot_dir, "attachment-not-on-any-device", show=lambda: (
        open_form(alice, server.origin, ws, rec), wait_state(alice, "in-sync"),
        alice.page.get_by_role("button", name="Get it now").click(),
        expect(alice.page.locator(".attachment-state")).to_have_text(nowhere, timeout=120_000)))
    assert not [e for e in alice.errors if "attachment" in e.lower()]


def _choose(app: AppPage, name: str, data: bytes) -> None:
    with app.page.expect_file_chooser() as chooser:
        app.page.get_by_role("button", name="Choose a file").click()
    chooser.value.set_files(files=[{"name": name, "mimeType": "application/pdf", "buffer": data}])


def test_a_photo_is_stored_shown_opened_kept_and_removed_in_each_engine(
        profile: Any, engine: str, server_factory: Any, screenshot_dir: Path) -> None:
    """The attachment store in each engine's worker (IndexedDB, WebCrypto's SHA-256), the thumbnail,
    the viewer, keeping and removing. The file goes in through the page's own call (the same one the
    file chooser makes): WebDriver has no way to answer a file chooser opened by a script."""
    server = server_factory()  # an origin of its own: a fresh device, whatever the profile holds
    app = AppPage(profile.new_page()).open(server.url)
    app.ensure_identity("Alice Stage")
    ws = new_files_workspace(app)
    rec = app.call("create_record", table=TABLE, values={TITLE: "Set photo, Act 1"})["id"]
    photo = png()
    value = app.page.evaluate("""async ([bytes, record, field]) => {
      const file = new File([new Uint8Array(bytes)], 'set-act1.png', { type: 'image/png' });
      return (await window.openprod.api.call('blob:attach', { file, record, field })).value;
    }""", [list(photo), rec, "files.Files.file"])
    assert value == [blob_id(photo), "set-act1.png", len(photo), "image/png"]  # hashed in the worker
    open_form(app, server.origin, ws, rec)
    expect(app.page.locator("img.attachment-thumb")).to_be_visible(timeout=60_000)
    expect(app.page.locator(".attachment-state")).to_have_text("On this device")
    assert app.page.evaluate("() => document.querySelector('img.attachment-thumb').naturalWidth") == 64
    app.page.get_by_label("Keep on this device").check()
    expect(app.page.locator(".attachment-state")).to_have_text("On this device, kept for offline")
    app.page.get_by_role("button", name="Open", exact=True).click()
    expect(app.page.locator("img.viewer-image")).to_be_visible()
    assert viewer_bytes_hash(app, "img.viewer-image") == blob_id(photo)
    app.page.keyboard.press("Escape")
    expect(app.page.locator("img.viewer-image")).to_have_count(0)
    app.tablet_shots(screenshot_dir, "attachment-kept", show=lambda: (
        open_form(app, server.origin, ws, rec),
        expect(app.page.locator(".attachment-state")).to_have_text("On this device, kept for offline",
                                                                    timeout=60_000)))
    open_form(app, server.origin, ws, rec)
    app.page.get_by_label("Keep on this device").uncheck()
    expect(app.page.get_by_role("button", name="Remove from this device")).to_be_visible()
    app.page.get_by_role("button", name="Remove from this device").click()
    expect(app.page.locator(".attachment-state")).to_have_text("Not on this device yet")
    assert stored_blob_rows(app, ws) == {"blobs": 0, "chunks": 0, "pins": 0}
    expect(app.page.locator(".attachment-name")).to_have_text("set-act1.png")  # the field keeps the file
