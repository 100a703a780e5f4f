"""Which browser tests run in which engine, checked (no browser needed).

Every real-browser test is one of:
* two-engine: takes the `profile` fixture (or `engine`), runs as `[chromium]` and `[webkit]`;
* cross-engine: takes `webkit_profile` (a WebKit person) beside Chromium ones;
* Chromium-only: marked `@pytest.mark.chromium_only(reason=...)` with a reason, and listed with the
  same reason in docs/web.md ("Chromium-only tests"), so the list cannot drift from the code.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

HERE = Path(__file__).parent
DOCS = HERE.parents[1] / "docs" / "web.md"
BROWSER_FIXTURES = {"context", "browser", "rtc_context", "server", "debug_server", "server_factory", "web_bundle",
                    "debug_bundle", "playwright_instance", "profile", "engine", "webkit_profile"}
PLAYWRIGHT_ONLY = {"context", "browser", "rtc_context", "playwright_instance"}


def _reason(decorator: ast.expr) -> str | None:
    """The reason of a `pytest.mark.chromium_only(reason=...)` decorator, else None."""
    if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
            and decorator.func.attr == "chromium_only"):
        return None
    for keyword in decorator.keywords:
        if keyword.arg == "reason" and isinstance(keyword.value, ast.Constant):
            return str(keyword.value.value)
    return ""


def lanes() -> dict[str, tuple[str, str]]:
    """'file::test' -> (lane, reason) for every test in tests/browser that uses a browser."""
    found: dict[str, tuple[str, str]] = {}
    for path in sorted(HERE.glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test_")):
                continue
            args = {a.arg for a in node.args.args}
            if not args & BROWSER_FIXTURES:
                continue
            reasons = [r for r in map(_reason, node.decorator_list) if r is not None]
            name = f"{path.name}::{node.name}"
            if reasons:
                found[name] = ("chromium", reasons[0])
            elif "webkit_profile" in args:
                found[name] = ("cross", "")
            elif args & {"profile", "engine"}:
                found[name] = ("both", "")
            else:
                found[name] = ("unmarked", "")
    return found


def documented() -> dict[str, str]:
    """The docs' table of Chromium-only tests: 'file::test' -> reason."""
    text = DOCS.read_text()
    section = text.split("### Chromium-only tests", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `([\w.]+::\w+)` \| (.+?) \|$", section, flags=re.M)
    return dict(rows)


def test_every_browser_test_runs_in_both_engines_or_says_why_not() -> None:
    found = lanes()
    assert found, "no browser tests found"
    unmarked = [name for name, (lane, _) in found.items() if lane == "unmarked"]
    assert unmarked == [], f"browser tests neither two-engine nor marked chromium_only: {unmarked}"
    empty = [name for name, (lane, reason) in found.items() if lane == "chromium" and not reason.strip()]
    assert empty == [], f"chromium_only without a reason: {empty}"
    both = [name for name, (lane, _) in found.items() if lane == "both"]
    assert len(both) >= 10, both  # the WebKit lane's flows (docs/web.md)


def test_two_engine_tests_use_no_playwright_only_fixture() -> None:
    for path in sorted(HERE.glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                args = {a.arg for a in node.args.args}
                if "profile" in args and not any(_reason(d) is not None for d in node.decorator_list):
                    mixed = args & PLAYWRIGHT_ONLY
                    assert not mixed, f"{path.name}::{node.name} mixes profile with {mixed}"


def test_docs_list_exactly_the_chromium_only_tests_with_their_reasons() -> None:
    in_code = {name: reason for name, (lane, reason) in lanes().items() if lane == "chromium"}
    assert documented() == in_code
