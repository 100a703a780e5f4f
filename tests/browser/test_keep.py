"""Keeping the work on a device, in both engines: the browser's storage promise said in words (Safari's
7-day deletion in WebKit), a backup downloaded and restored on a fresh device with the identical state
hash, files that are not backups refused with nothing changed, and installing: an install button where
the browser offers an install prompt, Add to Home Screen steps where it does not (Safari's engine)."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from engines import expect

from openprod.encoding import decode

pytestmark = pytest.mark.browser

CONTACTS = "contacts.Contacts"
READ_BACKUP_LINK = """async () => {
    const a = document.querySelector('a.backup-file');
    const bytes = new Uint8Array(await (await fetch(a.href)).arrayBuffer());
    let text = '';
    for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode(...bytes.subarray(i, i + 8192));
    return [a.getAttribute('download'), btoa(text)];
}"""


def test_storage_words_backup_restore_on_a_fresh_device_and_add_to_home_screen(
        profile: Any, engine: str, server_factory: Any, tmp_path: Path, screenshot_dir: Path) -> None:
    device = server_factory()  # an origin of its own: this profile has never been here
    app = AppPage(profile.new_page()).open(device.url)
    app.ensure_identity("Alice Stage")
    ws = app.create_workspace("Hamlet")
    for name in ("Jane Doe", "Kim Props", "Lee Sound"):
        app.call("create_record", table=CONTACTS, values={f"{CONTACTS}.name": name})
    app.page.reload()
    app.wait_grid()
    app.edit_cell("Jane Doe", "Phone", "555-0101")
    page = app.page
    banner = page.get_by_role("region", name="Keeping your work")
    footer = page.locator("#storage-status")

    # what this browser promises, in words
    if engine == "webkit":  # Safari's rule: deleted after 7 days without use
        expect(footer).to_contain_text("Safari deletes it after 7 days without use")
        expect(banner).to_contain_text("Safari may delete your work on this device")
        expect(banner).to_contain_text("This workspace is only on this device, so everything in it would be lost")
        expect(banner).to_contain_text("Last backup: never")

        def warning() -> None:
            app.wait_grid()
            expect(banner).to_be_visible()

        app.tablet_shots(screenshot_dir, "41-storage-warning", warning)
        banner.get_by_role("button", name="Add to Home Screen…").click()
        dialog = page.get_by_role("dialog", name="Add Openprod to your Home Screen")
        expect(dialog).to_contain_text("tap the Share button")
        app.shot(screenshot_dir, f"43-home-screen-steps-{engine}")
        dialog.get_by_role("button", name="Done").click()
        expect(dialog).to_be_hidden()
    else:  # headless Chromium keeps data "best effort" and has no 7-day rule: no banner, the footer says it
        expect(footer).to_contain_text("best effort — the browser may clear it when the device is low on space")
        expect(banner).to_be_hidden()

    # the Sync screen: what a backup is, then one made and downloaded
    page.goto(f"{device.url}#/w/{ws}/sync")
    section = page.locator(".backup-section")
    expect(section.locator(".backup-last")).to_have_text("Last backup: never")
    expect(section.locator(".storage-risk")).to_contain_text(
        "Safari may delete your work" if engine == "webkit" else "This browser has not promised to keep your work")

    def backup_section() -> None:
        expect(page.locator(".backup-section")).to_be_visible()
        page.locator(".backup-section").evaluate("e => e.scrollIntoView({block: 'start'})")

    app.tablet_shots(screenshot_dir, "42-backup", backup_section)
    section.get_by_role("button", name="Download a backup").click()
    expect(section.locator(".backup-done")).to_contain_text("Backup made")
    expect(section.locator(".backup-last")).to_have_text(re.compile(r"^Last backup: (?!never)"))
    file_name, encoded = page.evaluate(READ_BACKUP_LINK)
    assert re.fullmatch(r"Hamlet-\d{4}-\d\d-\d\d\.openprod-backup", file_name), file_name
    data = base64.b64decode(encoded)
    doc = decode(data)
    assert doc["format"] == "openprod-backup" and doc["version"] == 1 and doc["workspace"] == ws
    original_hash = app.call("state_hash")
    assert doc["state_hash"] == original_hash
    if engine == "webkit":  # a backup was just made: the warning rests for a week
        page.goto(f"{device.url}#/w/{ws}/t/{CONTACTS}")
        app.wait_grid()
        expect(banner).to_be_hidden()
    backup = tmp_path / file_name
    backup.write_bytes(data)

    # a fresh device (a new origin: nothing stored there): restore it, exactly
    fresh = server_factory()
    other = AppPage(profile.new_page()).open(fresh.url)
    other.ensure_identity("Alice on the iPad")
    start = other.page
    restore = start.locator("form.restore-form")
    bad = tmp_path / "contacts.csv"
    bad.write_text("Name,Phone\nJane Doe,555-0101\n")
    restore.get_by_label("Backup file").set_input_files(str(bad))
    restore.get_by_role("button", name="Restore").click()
    expect(restore.locator(".form-status")).to_have_text(
        "Not restored: This file is not an Openprod backup (it could not be read as one).")
    assert other.api("listWorkspaces") == []  # nothing was created

    restore.get_by_label("Backup file").set_input_files(str(backup))
    restore.get_by_role("button", name="Restore").click()
    other.wait_grid()
    expect(start.locator("#toast")).to_contain_text("Restored “Hamlet”")
    expect(other.cell("Jane Doe", "Phone")).to_have_text("555-0101")
    expect(start.locator(".row-count")).to_have_text("3 records")
    assert other.call("state_hash") == original_hash
    history = other.call("history", record=other.page.locator("table.grid tbody tr[data-id]", has_text="Jane Doe")
                         .first.get_attribute("data-id"), field=f"{CONTACTS}.phone")
    assert [c["display_name"] for c in history] == ["Alice Stage"]  # who made each change travels with it

    # the same file again: that workspace is already here, nothing is touched
    start.goto(f"{fresh.url}#/")
    restore = start.locator("form.restore-form")
    restore.get_by_label("Backup file").set_input_files(str(backup))
    restore.get_by_role("button", name="Restore").click()
    expect(restore.locator(".form-status")).to_contain_text(
        "“Hamlet” is already on this device, so nothing was restored")

    # installing: Add to Home Screen steps in Safari's engine; the install button where an install prompt comes
    install = start.locator(".install-section")
    if engine == "webkit":
        expect(install).to_contain_text("Add Openprod to your Home Screen")
        expect(install).to_contain_text("tap the Share button")

        def steps() -> None:
            expect(start.locator(".install-section")).to_be_visible()

        other.tablet_shots(screenshot_dir, "43-add-to-home-screen", steps)
    else:
        expect(install).to_be_hidden()  # Chromium may offer its prompt later: no steps meant for Safari
        start.evaluate("""() => {
            const event = new Event('beforeinstallprompt', {cancelable: true});
            event.prompt = async () => { window.installPrompted = true; return {outcome: 'accepted'}; };
            window.dispatchEvent(event);
        }""")
        expect(install.get_by_role("button", name="Install Openprod")).to_be_visible()
        start.evaluate("window.scrollTo(0, 0)")
        other.shot(screenshot_dir, f"43-install-button-{engine}")
        install.get_by_role("button", name="Install Openprod").click()
        start.wait_for_function("window.installPrompted === true")
    assert app.errors == [] and other.errors == []
