"""Build the offline web bundle in build/web from pinned local inputs; never touches the network.

Inputs (all installed beforehand by scripts/bootstrap):
  node_modules/pyodide   the Pyodide 314 runtime (only the five files a module worker loads)
  node_modules/comlink   page <-> worker RPC
  node_modules/idb       promise wrapper around IndexedDB
  node_modules/yjs       CRDT text/list documents for the worker (with the lib0 modules it imports)
  node_modules/wasmoon   Lua 5.4 in WebAssembly for scripts (loaded on the first script run)
  build/wheels           cbor2 (Emscripten build) and lark, pinned in scripts/fetch_wheels.py
  core/openprod/         the `openprod` package, packed here into a pure wheel
  web/py/openprod_web    the worker's Python glue, packed into its own wheel
  web/                   page, worker, styles, manifest and the service-worker template

Output: build/web (or --out), plus build/web/build-info.json (what the worker installs) and sw.js with the
precache list inlined: every file with its SHA-256, and a version that is the hash of that list,
so any content change gives a new service worker and a new cache. The build is idempotent: files
are rewritten only when their bytes change, stale files are removed, and a second run with no
changes writes nothing. Run: `.venv/bin/python build.py` (`--check` exits 1 if anything would change).

`--debug-peer --out build/web-debug` builds the browser tests' bundle: the same app plus the
TEST-ONLY `openprod_web_debug` wheel (a second person's replica inside the worker, for making real
concurrent edits in one browser). A normal build contains no trace of it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import struct
import sys
import time
import tomllib
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "build" / "web"
WHEELS = ROOT / "build" / "wheels"
NODE = ROOT / "node_modules"
WEB = ROOT / "web"

PYODIDE_FILES = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json")
RUNTIME_WHEELS = ("cbor2", "lark", "et_xmlfile", "openpyxl", "mnemonic")  # micropip is not needed: the worker loads
# the wheels by URL; openpyxl and et_xmlfile only when a person first exports to Excel (LAZY_WHEELS)
LAZY_WHEELS = ("et_xmlfile", "openpyxl", "mnemonic")  # mnemonic: recovery words, on creating a workspace
# (npm package, file inside it, where it goes in build/web)
VENDOR = (
    ("comlink", "dist/esm/comlink.min.mjs", "vendor/comlink.mjs"),
    ("idb", "build/index.js", "vendor/idb.js"),
    ("wasmoon", "dist/index.js", "vendor/wasmoon/wasmoon.js"),  # Lua 5.4 in WebAssembly, for scripts
    ("wasmoon", "dist/glue.wasm", "vendor/wasmoon/glue.wasm"),
    # Ed25519 signing in the worker's own thread (worker/ed25519.js): one file, no imports
    ("@noble/ed25519", "index.js", "vendor/noble/ed25519.js"),
)
# ES modules copied with their imports: (npm package, entry file, where it goes). Bare imports of
# other packages ('lib0/array') are rewritten to relative paths, so the worker loads them with no
# bundler and no import map (module workers have none).
ESM = (("yjs", "dist/yjs.mjs", "vendor/yjs/yjs.mjs"),
       ("@noble/hashes", "sha2.js", "vendor/noble/sha2.js"),  # SHA-512 for it (its imports: vendor/@noble/hashes)
       # libsodium in WebAssembly (the wasm inlined), a second Ed25519 backend of the verify worker
       # (worker/verifier.js): its import of libsodium lands in vendor/libsodium/
       ("libsodium-wrappers", "dist/modules-esm/libsodium-wrappers.mjs", "vendor/libsodium-wrappers/sodium.mjs"))
ESM_PACKAGES = ("yjs", "lib0", "libsodium")
# Sources under web/ that are not copied as they are.
WEB_SKIP_DIRS = {"py", "__pycache__"}
DEBUG_ONLY = ("js/worker/debug.js",)  # the debug peer's worker half: only in --debug-peer builds
WEB_TEMPLATES = {"sw.js"}
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same source gives the same wheel bytes
ICON_SIZES = (192, 512)


class BuildError(Exception):
    """An input is missing or wrong; the message says what to run."""


@dataclass(frozen=True)
class Output:
    path: str  # relative to build/web, with forward slashes
    data: bytes
    precache: bool = True


# --- inputs -----------------------------------------------------------------------------------


def read_pins() -> dict[str, str]:
    text = (ROOT / "scripts" / "fetch_wheels.py").read_text()
    return {m[1].lower(): m[2] for m in re.finditer(r'"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)"', text)}


def runtime_wheels() -> list[Path]:
    pins = read_pins()
    found = []
    for name in RUNTIME_WHEELS:
        version = pins.get(name)
        if version is None:
            raise BuildError(f"{name} is not pinned in scripts/fetch_wheels.py")
        matches = sorted(WHEELS.glob(f"{name}-{version}-*.whl"))
        if len(matches) != 1:
            raise BuildError(f"expected one {name}-{version}-*.whl in {WHEELS}, found {len(matches)}; "
                             f"run: .venv/bin/python scripts/fetch_wheels.py")
        found.append(matches[0])
    return found


def npm_version(package: str) -> str:
    manifest = NODE / package / "package.json"
    if not manifest.exists():
        raise BuildError(f"node_modules/{package} is missing; run: npm ci")
    version: str = json.loads(manifest.read_text())["version"]
    wanted = json.loads((ROOT / "package.json").read_text())["dependencies"].get(package)
    if wanted != version:
        raise BuildError(f"node_modules/{package} is {version} but package.json pins {wanted}; run: npm ci")
    return version


def project_version() -> str:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return str(data["project"]["version"])


# --- wheels -----------------------------------------------------------------------------------


def _package_files(src: Path, package: str, data_globs: Iterable[str]) -> list[tuple[str, bytes]]:
    files: list[tuple[str, bytes]] = []
    for path in sorted(src.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        files.append((f"{package}/{path.relative_to(src).as_posix()}", path.read_bytes()))
    for pattern in data_globs:
        for path in sorted(src.glob(pattern)):
            if path.is_file():
                files.append((f"{package}/{path.relative_to(src).as_posix()}", path.read_bytes()))
    return sorted(set(files))


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def make_wheel(name: str, version: str, summary: str, requires: Iterable[str],
               files: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """A pure `py3-none-any` wheel, byte-for-byte reproducible from the same files."""
    dist_info = f"{name}-{version}.dist-info"
    metadata = "\n".join([
        "Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}",
        *[f"Requires-Dist: {r}" for r in requires], "",
    ]).encode()
    wheel = (b"Wheel-Version: 1.0\nGenerator: openprod build.py\nRoot-Is-Purelib: true\n"
             b"Tag: py3-none-any\n")
    entries = [*files, (f"{dist_info}/METADATA", metadata), (f"{dist_info}/WHEEL", wheel)]
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in entries)
    record += f"{dist_info}/RECORD,,\n"
    entries.append((f"{dist_info}/RECORD", record.encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in entries:
            info = zipfile.ZipInfo(path, ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return f"{name}-{version}-py3-none-any.whl", buf.getvalue()


def core_wheel() -> tuple[str, bytes]:
    """Only the `openprod` package (core/openprod), not the relay's `openprod_server`."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = data["tool"]["setuptools"]["package-data"].get("openprod", [])
    # OPENPROD_CORE_SRC: build against another copy of the package (e.g. `git archive` of a commit).
    source = Path(os.environ.get("OPENPROD_CORE_SRC") or ROOT / "core" / "openprod")
    files = _package_files(source, "openprod", globs)
    return make_wheel("openprod", project_version(), data["project"]["description"],
                      data["project"]["dependencies"], files)


def web_glue_wheel() -> tuple[str, bytes]:
    files = _package_files(WEB / "py" / "openprod_web", "openprod_web", ())
    return make_wheel("openprod_web", project_version(), "Openprod web worker glue", [f"openprod=={project_version()}"],
                      files)


# --- icons ------------------------------------------------------------------------------------


def _png(width: int, height: int, rows: Iterable[bytes]) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


BACKDROP = bytes((0x24, 0x1B, 0x33))  # deep plum: a dark stage
BEAM = bytes((0x4A, 0x3A, 0x5E))  # the spotlight's cone
LIGHT = bytes((0xF6, 0xB9, 0x3B))  # warm amber spot
STAGE = bytes((0x10, 0x0B, 0x17))  # the stage floor


def icon_png(size: int, *, maskable: bool) -> bytes:
    """A spotlight on a stage, drawn row by row (maskable: motif inside the 80 % safe zone)."""
    scale = 0.8 if maskable else 1.0
    cx = size / 2
    cy = size * (0.5 - 0.08 * scale)
    radius = size * 0.22 * scale
    floor = size * (0.5 + 0.3 * scale)
    beam_top = size * (0.5 - 0.4 * scale)
    rows = []
    for y in range(size):
        yc = y + 0.5
        if yc >= floor:
            rows.append(STAGE * size)
            continue
        row = bytearray(BACKDROP * size)
        if yc >= beam_top:  # a cone widening from the top toward the floor
            half = (yc - beam_top) / (floor - beam_top) * size * 0.34 * scale + size * 0.04 * scale
            lo, hi = max(0, int(cx - half)), min(size, int(cx + half))
            row[lo * 3:hi * 3] = BEAM * (hi - lo)
        dy = yc - cy
        if abs(dy) < radius:
            half = (radius * radius - dy * dy) ** 0.5
            lo, hi = max(0, int(cx - half + 0.5)), min(size, int(cx + half + 0.5))
            row[lo * 3:hi * 3] = LIGHT * (hi - lo)
        rows.append(bytes(row))
    return _png(size, size, rows)


# --- ES modules with their imports -------------------------------------------------------------

_IMPORT_RE = re.compile(r"""^(?:(?:import|export)\b[^'";=]*?\bfrom\s*|import\s*)['"]([^'"\n]+)['"]""", re.M)
_SOURCE_MAP_RE = re.compile(r"^//# sourceMappingURL=.*$", re.M)


def _export_target(package: str, subpath: str) -> str:
    """The file a bare import of `package/subpath` loads in a browser (package.json "exports")."""
    manifest = json.loads((NODE / package / "package.json").read_text())
    entry = manifest.get("exports", {}).get(subpath)
    while isinstance(entry, dict):
        entry = entry.get("browser") or entry.get("module") or entry.get("import") or entry.get("default")
    if not isinstance(entry, str):
        raise BuildError(f"cannot resolve the import {package}/{subpath[2:]} (no browser/module export)")
    return os.path.normpath(entry)


def esm_closure(package: str, entry: str, dest: str) -> list[Output]:
    """An ES module and every module it imports, with bare imports rewritten to relative paths.

    Output layout: vendor/<package>/<path inside the package>; `dest` names the entry's place.
    """
    entry_dir = posix_dirname(dest)
    out_paths = {(package, os.path.normpath(entry)): dest}
    todo = [(package, os.path.normpath(entry))]
    outs: list[Output] = []
    while todo:
        pkg, rel = todo.pop()
        here = out_paths[(pkg, rel)]
        text = (NODE / pkg / rel).read_text()

        def rewrite(match: re.Match[str], pkg: str = pkg, rel: str = rel, here: str = here) -> str:
            spec = match.group(1)
            if spec.startswith("."):
                target = (pkg, os.path.normpath(os.path.join(os.path.dirname(rel), spec)))
            else:
                name, _, sub = spec.partition("/")
                if name not in ESM_PACKAGES:
                    raise BuildError(f"{pkg}/{rel} imports {spec!r}, which is not vendored")
                target = (name, _export_target(name, f"./{sub}" if sub else "."))
            if target not in out_paths:
                out_paths[target] = f"{posix_dirname(entry_dir)}/{target[0]}/{target[1]}"
                todo.append(target)
            relative = os.path.relpath(out_paths[target], posix_dirname(here))
            return match.group(0).replace(spec, relative if relative.startswith(".") else f"./{relative}")

        text = _SOURCE_MAP_RE.sub("", _IMPORT_RE.sub(rewrite, text))
        outs.append(Output(here, text.encode()))
    return sorted(outs, key=lambda o: o.path)


def posix_dirname(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


# --- assembling ---------------------------------------------------------------------------------


def web_sources(debug_peer: bool) -> list[Output]:
    outs = []
    for path in sorted(WEB.rglob("*")):
        rel = path.relative_to(WEB)
        if not path.is_file() or rel.parts[0] in WEB_SKIP_DIRS or "__pycache__" in rel.parts:
            continue
        if rel.as_posix() in WEB_TEMPLATES or (rel.as_posix() in DEBUG_ONLY and not debug_peer):
            continue
        outs.append(Output(rel.as_posix(), path.read_bytes()))
    return outs


def debug_wheel() -> tuple[str, bytes]:
    files = _package_files(WEB / "py" / "openprod_web_debug", "openprod_web_debug", ())
    return make_wheel("openprod_web_debug", project_version(), "TEST-ONLY debug peer for the browser tests",
                      [f"openprod_web=={project_version()}"], files)


def collect(debug_peer: bool = False) -> tuple[list[Output], dict[str, object]]:
    outs: list[Output] = []
    versions = {pkg: npm_version(pkg) for pkg in ("pyodide", "comlink", "idb", "yjs", "wasmoon", "libsodium",
                                                  "libsodium-wrappers")}
    versions["lib0"] = json.loads((NODE / "lib0" / "package.json").read_text())["version"]
    for name in PYODIDE_FILES:
        source = NODE / "pyodide" / name
        outs.append(Output(f"pyodide/{name}", source.read_bytes()))
    for package, inner, dest in VENDOR:
        outs.append(Output(dest, (NODE / package / inner).read_bytes()))
    for package, entry, dest in ESM:
        outs.extend(esm_closure(package, entry, dest))
    wheel_names: dict[str, str] = {}
    for path in runtime_wheels():
        wheel_names[path.name.split("-")[0]] = path.name
        outs.append(Output(f"wheels/{path.name}", path.read_bytes()))
    wheels = [("openprod", core_wheel()), ("openprod_web", web_glue_wheel())]
    if debug_peer:
        wheels.append(("openprod_web_debug", debug_wheel()))
    for key, (filename, data) in wheels:
        wheel_names[key] = filename
        outs.append(Output(f"wheels/{filename}", data))
    for size in ICON_SIZES:
        outs.append(Output(f"icons/icon-{size}.png", icon_png(size, maskable=False)))
    outs.append(Output("icons/maskable-512.png", icon_png(512, maskable=True)))
    outs.extend(web_sources(debug_peer))
    info: dict[str, object] = {
        "app_version": project_version(),
        "npm": versions,
        "wheels": wheel_names,
        "lazy_wheels": list(LAZY_WHEELS),
        "install_order": ["cbor2", "lark", "openprod", "openprod_web",
                          *(["openprod_web_debug"] if debug_peer else [])],
        "debug_peer": debug_peer,
    }
    return outs, info


def service_worker(files: list[Output]) -> tuple[Output, str]:
    """sw.js = the template with the precache list (path, SHA-256) and the list's hash inlined."""
    entries = sorted((f.path, hashlib.sha256(f.data).hexdigest()) for f in files if f.precache)
    listing = json.dumps(entries, separators=(",", ":"))
    version = hashlib.sha256(listing.encode()).hexdigest()[:16]
    template = (WEB / "sw.js").read_text()
    for marker in ("__PRECACHE__", "__VERSION__"):
        if marker not in template:
            raise BuildError(f"web/sw.js has no {marker} marker")
    text = template.replace("__PRECACHE__", listing).replace("__VERSION__", version)
    return Output("sw.js", text.encode(), precache=False), version


def build(check: bool = False, log: Callable[[str], None] = print, *, out: Path = OUT,
          debug_peer: bool = False) -> int:
    """Assemble build/web (or `out`). Returns the number of files written (or that would be, with check)."""
    started = time.perf_counter()
    outs, info = collect(debug_peer)
    # The build stamp: the hash of every other precached file, so any change to the app changes it (the
    # worker keys its Pyodide start snapshot by it: web/js/worker/pysnapshot.js). sw.js's version hashes
    # this file too, so it cannot be written in here.
    stamped = sorted((o.path, hashlib.sha256(o.data).hexdigest()) for o in outs if o.precache)
    info["build"] = hashlib.sha256(json.dumps(stamped, separators=(",", ":")).encode()).hexdigest()[:16]
    info_out = Output("build-info.json", (json.dumps(info, indent=2, sort_keys=True) + "\n").encode())
    outs.append(info_out)
    sw, version = service_worker(outs)
    outs.append(sw)
    outs.append(Output("version.txt", f"{version}\n".encode(), precache=False))

    wanted = {o.path: o for o in outs}
    if len(wanted) != len(outs):
        raise BuildError("two inputs map to the same output path")
    changed: list[str] = []
    for item in outs:
        target = out / item.path
        if target.exists() and target.read_bytes() == item.data:
            continue
        changed.append(item.path)
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".tmp")
            tmp.write_bytes(item.data)
            tmp.replace(target)
    removed = []
    for path in sorted(out.rglob("*"), reverse=True):
        rel = path.relative_to(out).as_posix()
        if path.is_file() and rel not in wanted:
            removed.append(rel)
            if not check:
                path.unlink()
        elif path.is_dir() and not check and not any(path.iterdir()):
            path.rmdir()
    total = sum(len(o.data) for o in outs)
    verb = "would write" if check else "wrote"
    for rel in changed:
        log(f"  {verb} {rel} ({len(wanted[rel].data):,} bytes)")
    for rel in removed:
        log(f"  {'would remove' if check else 'removed'} {rel}")
    where = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    log(f"{where}: {len(outs)} files, {total / 1_048_576:.1f} MiB, version {version}; "
        f"{len(changed)} {verb}, {len(removed)} removed, {time.perf_counter() - started:.2f} s")
    return len(changed) + len(removed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if the bundle is out of date")
    parser.add_argument("--out", type=Path, default=OUT, help="where to build (default: build/web)")
    parser.add_argument("--debug-peer", action="store_true",
                        help="TEST-ONLY: include the in-worker debug peer (the browser tests' bundle)")
    args = parser.parse_args(argv)
    try:
        count = build(check=args.check, out=args.out.resolve(), debug_peer=args.debug_peer)
    except BuildError as exc:
        print(f"build.py: {exc}", file=sys.stderr)
        return 2
    return 1 if args.check and count else 0


if __name__ == "__main__":
    sys.exit(main())
