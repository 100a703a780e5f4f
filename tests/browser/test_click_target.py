"""A click lands on the element it was aimed at, or on nothing, in both engines' drivers.

WebKit's WebDriver checks that an element is not covered before it scrolls and moves the pointer, and
then presses wherever the pointer is: if the page moves in between (a banner arriving, a screen drawn
again), the press lands on whatever is now at that spot and the driver reports success. That is how a
CI run can click "Create workspace", see nothing happen for 180 s, and leave no trace of why.
Playwright checks the element under the pointer at the press itself and keeps a misdirected press from
the page (its hit-target interceptor), then aims again; `wdpage.Locator.click` does the same for WebKit.

The page here moves at the worst moment, every time: the pointer's arrival over the button (the
driver's own move there, or WebKit's press arriving over it) shows a banner that pushes "Save" down, and a "Delete"
button sits where "Save" was. The press must reach "Save" once, and "Delete" never."""

from __future__ import annotations

from typing import Any

import pytest
from engines import expect
from wdpage import page_state

pytestmark = pytest.mark.browser

# Save, with Delete under it at the same spot (Save is drawn over it); the pointer's arrival shows the banner
# above Save, which moves Save 120 px down and leaves Delete at the spot. Each button counts the clicks
# that reach it, and the page notes every trusted press and where it went.
SHIFTING_PAGE = """() => {
  document.body.innerHTML = `
    <div id="banner" hidden style="height: 120px; background: #fd6">A new version is ready</div>
    <div style="position: relative; margin: 40px">
      <button id="delete" style="position: absolute; top: 0; left: 0; width: 160px; height: 40px">Delete</button>
      <button id="save" style="position: relative; z-index: 1; width: 160px; height: 40px">Save</button>
    </div>
    <p role="status" id="said"></p>`;
  window.clicks = {save: 0, delete: 0, moved: false};
  for (const id of ['save', 'delete']) {
    document.getElementById(id).addEventListener('click', () => {
      window.clicks[id] += 1;
      document.getElementById('said').textContent = `${id} clicked`;
    });
  }
  const arrive = (event) => {
    if (!event.isTrusted || window.clicks.moved) return;
    window.clicks.moved = true;
    document.getElementById('banner').hidden = false;
  };
  window.addEventListener('mousemove', arrive); // Playwright moves the pointer there first
  window.addEventListener('mouseover', arrive); // WebKitWebDriver's press arrives over it
}"""


def test_a_click_reaches_the_element_even_when_the_page_moves_under_the_pointer(profile: Any) -> None:
    page = profile.new_page()
    page.evaluate(SHIFTING_PAGE)
    page.get_by_role("button", name="Save").click()
    clicks = page.evaluate("window.clicks")
    # the driver's own move to the button moved the page (so this test provoked what it is about)
    assert clicks["moved"], clicks
    assert clicks == {"save": 1, "delete": 0, "moved": True}
    expect(page.get_by_role("status")).to_have_text("save clicked")


def test_an_expectation_that_times_out_says_what_the_page_showed(webkit_profile: Any) -> None:
    """CI keeps only the log: a WebKit `expect` that fails names the page's statuses and text (Playwright's
    own message is Playwright's; `page_state` gives the same for any page)."""
    page = webkit_profile.new_page()
    page.evaluate("""() => { document.body.innerHTML = '<h1>Create a workspace</h1>'
        + '<p role="status">Give the workspace a name.</p><p id="engine-status">Starting the engine…</p>'; }""")
    with pytest.raises(AssertionError) as failed:
        expect(page.get_by_role("list", name="Recovery words, in order")).to_be_visible(timeout=300)
    said = str(failed.value)
    assert 'statuses: ["Give the workspace a name."]' in said
    assert "engine: Starting the engine…" in said and "Create a workspace" in said
    assert "statuses:" in page_state(page, short=True)
    webkit_profile.close()
