"""The worker's attachment store (web/py/openprod_web/blobs.py) on CPython: a transfer cut by a
reload carries on from the pieces IndexedDB kept (the browser test reloads a real page; this checks
the Python side's rules), and the hub wakes for the blob exchange's timers (a silent peer's timeout,
a missing file's retry) even when no frame arrives."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

pytest.importorskip("nacl")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "web" / "py"))

from openprod_web import Session, SyncHub
from openprod_web.blobs import WorkerBlobStore
from worker_helpers import nacl_env, run

from openprod import ValidationError
from openprod.blobs import BlobMismatch, BlobRef
from openprod.signer_nacl import generate_identity
from openprod.sync import FETCHING, MISSING, BlobExchange
from openprod.sync.blob_messages import MAX_PIECE

DATA = random.Random(3).randbytes(4 * MAX_PIECE + 77)
REF = BlobRef.of(DATA, "plot.pdf", "application/pdf")


def test_a_transfer_resumed_after_a_reload_asks_only_for_the_rest_and_is_verified_whole() -> None:
    kept = DATA[:2 * MAX_PIECE]  # what IndexedDB held when the page went away
    store = WorkerBlobStore()
    assert store.resume(REF.hash, 0, kept[:MAX_PIECE]) == MAX_PIECE
    assert store.resume(REF.hash, MAX_PIECE, kept[MAX_PIECE:]) == 2 * MAX_PIECE
    assert store.take_writes() == []  # already in IndexedDB: nothing written again
    exchange = BlobExchange(store, max_bytes=lambda: 2**30)
    assert exchange.want(REF).received == 2 * MAX_PIECE and exchange.status(REF).state == FETCHING
    store.append_partial(REF.hash, 2 * MAX_PIECE, DATA[2 * MAX_PIECE:])
    store.finish(REF.hash)
    assert store.has(REF.hash) and store.take_writes()[-1] == ["complete", REF.hash, len(DATA)]


def test_a_resume_out_of_order_is_refused_and_a_damaged_kept_prefix_fails_the_whole_hash() -> None:
    store = WorkerBlobStore()
    with pytest.raises(ValidationError, match="resumes in order"):
        store.resume(REF.hash, MAX_PIECE, DATA[MAX_PIECE:2 * MAX_PIECE])
    damaged = bytearray(DATA[:MAX_PIECE])
    damaged[5] ^= 0xFF
    store.resume(REF.hash, 0, bytes(damaged))
    store.append_partial(REF.hash, MAX_PIECE, DATA[MAX_PIECE:])
    store.take_writes()
    with pytest.raises(BlobMismatch):
        store.finish(REF.hash)
    assert not store.has(REF.hash) and store.take_writes() == [["discard", REF.hash]]  # fetched again from 0
    assert store.partial_size(REF.hash) == 0


def test_the_hub_wakes_for_a_missing_files_retry_without_any_frame() -> None:
    async def scenario() -> None:
        a = await Session.create(generate_identity("Alice").to_json(), "Show", ["contacts"], nacl_env)
        hub = SyncHub(a)
        assert hub.next_timer() is None
        links = hub.attach_blobs()
        links.exchange.want(REF)
        hub.pump_blobs()  # no link: nobody to ask
        assert links.exchange.status(REF).state == MISSING
        wake = hub.next_timer()
        assert wake is not None and wake == links.exchange.next_timer()

    run(scenario())
