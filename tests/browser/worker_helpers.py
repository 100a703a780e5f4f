"""Shared by the worker tests that run web/py/openprod_web on CPython (PyNaCl signs, no browser)."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openprod import Env, Identity
from openprod.signer_nacl import NaclSigner, NaclVerifier

CONTACTS = "contacts.Contacts"


async def nacl_env(identity: Identity) -> Env:
    return Env(signer=NaclSigner(identity), verifier=NaclVerifier(), display_name=identity.display_name)


def run(coro: Any) -> Any:
    """asyncio.run in its own thread: Playwright's sync API may keep a loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def call(session: Any, method: str, **args: Any) -> Any:
    """One JSON API call on an openprod_web Session; its error, if any, fails the test."""
    out = json.loads(await session.call(method, json.dumps(args)))
    if "error" in out:
        raise AssertionError(out["error"])
    return out["ok"]
