"""Download the Python 3.14 / wasm32 wheels that Pyodide installs, once, into build/wheels.

The web bundle ships the runtime wheels (micropip, cbor2, lark; openpyxl and et_xmlfile, loaded
when a person first exports to Excel; mnemonic, when they first create a workspace); the in-Pyodide test run
also installs pytest and hypothesis. Versions are pinned here and checked on every run,
so a fresh machine gets exactly these files from PyPI and nothing at run time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHEELS = ROOT / "build" / "wheels"

# Pure wheels (py3-none-any), resolved for Python 3.14.
PURE_RUNTIME = ["micropip==0.11.1", "lark==1.3.1", "openpyxl==3.1.5", "et_xmlfile==2.0.0", "mnemonic==0.21"]
PURE_TEST = [
    "pytest==9.2.0", "pluggy==1.7.0", "iniconfig==2.3.1", "packaging==26.3", "pygments==2.21.0",
    "hypothesis==6.155.7", "sortedcontainers==2.4.0", "ecdsa==0.19.2", "six==1.17.0",
]
# cbor2 6.x has a C extension; PyPI carries a Pyodide (pyemscripten) build of it.
EMSCRIPTEN = ["cbor2==6.3.0"]
EMSCRIPTEN_PLATFORM = "pyemscripten_2026_0_wasm32"


def _have(spec: str) -> bool:
    name, version = spec.split("==")
    return any(WHEELS.glob(f"{name.replace('-', '_')}-{version}-*.whl"))


def _download(specs: list[str], extra: list[str]) -> None:
    missing = [s for s in specs if not _have(s)]
    if not missing:
        return
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.14", "-d", str(WHEELS), *extra, *missing]
    subprocess.run(cmd, check=True)


def main() -> None:
    WHEELS.mkdir(parents=True, exist_ok=True)
    _download(PURE_RUNTIME + PURE_TEST, ["--platform", "any", "--implementation", "py"])
    _download(EMSCRIPTEN, ["--platform", EMSCRIPTEN_PLATFORM, "--implementation", "cp", "--abi", "cp314"])


if __name__ == "__main__":
    main()
