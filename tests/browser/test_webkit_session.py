"""A WebKit page that crashes fails its own test, not every WebKit test after it in the module.

WebKitWebDriver deletes its session when a page's web process crashes or hangs ("session deleted
because of page crash or hang"); every later command of that session fails. The module's WebKit tests
share one session, so before the fix one crash under a loaded CI machine failed the rest of the
module's WebKit lane on a dead session. Here the web processes are killed as a crash would end them;
the test after it must get a working browser. The two tests run in file order.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CRASHED: list[int] = []  # the session restarts counted when the crash test ended


def _descendants(pid: int) -> list[int]:
    """Every process under `pid`, read from /proc (parent ids)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [child for child, p in parents.items() if p == parent]
        found += children
        todo += children
    return found


def _web_processes(webkit: Any) -> list[int]:
    pids = _descendants(webkit.driver.service.process.pid)
    return [pid for pid in pids if Path(f"/proc/{pid}/comm").read_text().startswith("WebKitWebProces")]


def test_a_page_whose_web_process_crashes_fails_only_its_own_test(webkit_profile: Any) -> None:
    page = webkit_profile.new_page()
    assert page.evaluate("() => 1 + 1") == 2
    processes = _web_processes(webkit_profile)
    assert processes, "no WebKitWebProcess under this session's driver"
    for pid in processes:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(Exception):  # noqa: B017 - the session's own error, whichever WebDriver raises
        page.evaluate("() => 2 + 2")
    assert not webkit_profile.alive(), "the crash did not end the WebDriver session: this test shows nothing"
    CRASHED.append(webkit_profile.restarts)


def test_the_next_test_after_a_crash_gets_a_working_browser(webkit_profile: Any) -> None:
    if not CRASHED:
        pytest.skip("shows something only right after the crash test above")
    page = webkit_profile.new_page()
    assert page.evaluate("() => 3") == 3
    assert webkit_profile.restarts == CRASHED[0] + 1  # a new session, not the old one come back
    page.close()
    assert webkit_profile.new_page().evaluate("() => document.readyState") in {"interactive", "complete"}
