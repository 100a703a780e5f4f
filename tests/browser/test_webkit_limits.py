"""What Safari's engine lacks, the app does not use: no JSPI (`WebAssembly.Suspending`, Pyodide's
`run_sync`), no SharedArrayBuffer or Atomics (they need cross-origin isolation headers, which WebKit
honours differently and the relay does not send), no interrupt buffer. Read from the sources here; the
WebKit lane shows the app running where they are absent (test_webkit_sync.py checks the engine lacks them)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_IN_WEBKIT = re.compile(r"SharedArrayBuffer|Atomics\.|\brun_sync\b|WebAssembly\.Suspending|WebAssembly\.promising"
                           r"|setInterruptBuffer|crossOriginIsolated|Cross-Origin-(Opener|Embedder)-Policy")


def test_the_app_uses_nothing_webkit_lacks() -> None:
    sources = [p for p in (ROOT / "web").rglob("*") if p.suffix in {".js", ".mjs", ".py", ".html"}
               and "vendor" not in p.parts]
    sources += [*(ROOT / "server" / "openprod_server").rglob("*.py"), ROOT / "build.py"]
    assert len(sources) > 30
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in sources for m in NOT_IN_WEBKIT.finditer(p.read_text())]
    assert found == []
