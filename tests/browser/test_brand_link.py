"""The Openprod link in the header, pressed on the start screen, keeps what was typed there.

The app opened at its plain address has no "#/"; the link goes to "#/", which is the same screen. It
used to draw the start screen again and drop a half-typed workspace name (web/js/app.js, the
hashchange handler). Both engines."""

from __future__ import annotations

from typing import Any

import pytest
from appdriver import AppPage
from engines import expect

pytestmark = pytest.mark.browser


def test_the_openprod_link_on_the_start_screen_keeps_a_half_typed_name(profile: Any, server_factory: Any) -> None:
    device = server_factory()
    app = AppPage(profile.new_page()).open(device.url)
    app.ensure_identity("Alice Stage")
    app.open(device.url.split("#")[0])  # the plain address, as from the home screen icon
    page = app.page
    assert page.evaluate("() => location.hash") == ""
    expect(page.get_by_role("heading", name="Create a workspace")).to_be_visible(timeout=60_000)
    page.get_by_label("Workspace name").fill("Hamlet, spring to")
    before = page.evaluate("() => window.openprod.app.routing.then(() => window.openprod.app.generation)")
    # the screen generation once the app has taken the link's hashchange (this listener runs after the
    # app's) and finished the routing that began then, if any
    page.evaluate("""() => {
      window.brandSeen = new Promise((resolve) => window.addEventListener('hashchange', () => {
        window.openprod.app.routing.then(() => resolve(window.openprod.app.generation));
      }, { once: true }));
    }""")
    page.get_by_role("link", name="Openprod: your workspaces").click()
    after = page.evaluate("() => window.brandSeen")
    assert page.evaluate("() => location.hash") == "#/"
    assert after == before, "the start screen was drawn again"
    expect(page.get_by_label("Workspace name")).to_have_value("Hamlet, spring to")
