"""Recovery words at workspace creation in the browser: shown once, in words to write down, with an
"I have written them down" step; afterwards the page does not hold them, and the workspace holds
only the public half of the key they stand for (the same key `openprod recover` uses)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from appdriver import AppPage
from playwright.sync_api import expect
from worker_helpers import nacl_env, run

from openprod.signer_nacl import generate_identity
from openprod_server.recovery import public_key, secret_from

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "web" / "py"))
from openprod_web import Session

pytestmark = pytest.mark.browser


async def _nacl_public(seed: bytes) -> bytes:
    from nacl.signing import SigningKey

    return bytes(SigningKey(seed).verify_key)


def test_the_worker_hands_the_words_out_once_and_stores_only_the_public_key() -> None:
    async def go() -> None:
        s = await Session.create(generate_identity("Alice").to_json(), "Show", ["contacts"], nacl_env,
                                 recovery_public=_nacl_public)
        words = s.take_recovery_words()
        assert words is not None and len(words.split()) == 12
        assert s.take_recovery_words() is None  # once
        ws = s.ws
        assert ws.settings.recovery_key == public_key(ws.workspace_id, secret_from(words)).hex()
        founding = next(iter(ws.oplog.bundles()))  # in the founding bundle, signed by the founder
        assert founding.actor == ws.actor_id.hex()
        stored = b"".join(b.wire for b in ws.oplog.bundles())
        assert words.encode() not in stored and secret_from(words) not in stored  # neither the words nor the secret
        plain = await Session.create(generate_identity("Bo").to_json(), "Show", [], nacl_env)
        assert plain.take_recovery_words() is None and plain.ws.settings.recovery_key == ""

    run(go())


@pytest.mark.chromium_only(reason="WebCrypto's Ed25519 key import is the only engine-specific part, and the "
                                  "WebKit lane's create_workspace goes through the same screen")
def test_recovery_words_are_shown_once_and_must_be_written_down(profile: Any, server_factory: Any,
                                                                screenshot_dir: Path) -> None:
    device = server_factory()
    app = AppPage(profile.new_page()).open(device.url)
    app.ensure_identity("Alice Stage")
    page = app.page
    page.get_by_label("Workspace name").fill("Hamlet")
    page.get_by_role("button", name="Create workspace").click()
    words_list = page.get_by_role("list", name="Recovery words, in order")
    expect(words_list).to_be_visible(timeout=120_000)
    words = " ".join(words_list.locator(".recovery-word").all_inner_texts())
    assert len(words.split()) == 12
    secret = secret_from(words)  # real BIP-39 words with a valid checksum
    expect(page.get_by_role("heading", name="Write down the recovery words for Hamlet")).to_be_visible()
    go_on = page.get_by_role("button", name="Open the workspace")
    expect(go_on).to_be_disabled()  # not before they say they wrote them down
    for width, height in AppPage.TABLET:
        page.set_viewport_size({"width": width, "height": height})
        app.shot(screenshot_dir, f"45-recovery-words-{app.engine}-{width}x{height}")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.get_by_label("I have written them down").check()
    expect(go_on).to_be_enabled()
    go_on.click()
    app.wait_grid()
    ws_id = uuid.UUID(page.url.split("#/w/")[1].split("/")[0]).bytes

    # the page does not hold them any more, the worker hands them out no more, nothing stored has them
    body = page.evaluate("document.documentElement.outerHTML")
    assert all(f">{w}<" not in body for w in words.split())
    assert app.api("takeRecoveryWords") is None
    stored = page.evaluate("""async () => {
        const keys = [...Object.keys(localStorage), ...Object.keys(sessionStorage)];
        return JSON.stringify([keys.map((k) => localStorage.getItem(k) || sessionStorage.getItem(k))]);
    }""")
    assert words not in stored and words.replace(' ', '') not in stored
    # only the public half is in the workspace, and it is the key the words stand for
    assert app.call("info")["recovery_key"] == public_key(ws_id, secret).hex()
    # after a reload: the workspace opens, no words screen
    page.reload()
    app.wait_grid()
    expect(page.get_by_role("list", name="Recovery words, in order")).to_have_count(0)
