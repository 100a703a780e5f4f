"""The worker's sync glue (web/py/openprod_web/sync.py) on CPython: two hubs over an in-memory pipe.

The browser runs the same code under Pyodide with WebCrypto; here PyNaCl signs, so these take
about a second and check what the browser tests cannot see directly: catch-up is cut into slices
of at most `budget` bundles, nothing is acknowledged before the driver asks for output, events and
status, refusals of an unexpected peer, and the signed requests the relay verifies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("nacl")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "web" / "py"))

from openprod_web import Session, SyncHub, join_request
from openprod_web.writes import VerifyAhead, ingest_many
from worker_helpers import CONTACTS, call, nacl_env, run

from openprod import Identity, decode_bundle
from openprod.signer_nacl import NaclVerifier, generate_identity
from openprod.sync import SessionConfig, decode_request_v1
from openprod.sync.messages import Ack, decode_message_v1


async def pair() -> tuple[Session, Session, SyncHub, SyncHub]:
    a = await Session.create(generate_identity("Alice").to_json(), "Show", ["contacts"], nacl_env)
    info = await call(a, "info")
    b = await Session.join(generate_identity("Bo").to_json(), info["workspace_id"], nacl_env)
    quick = SessionConfig(quiet_ms=0)  # the state-hash check as soon as both sides are quiet
    return a, b, SyncHub(a, quick), SyncHub(b, quick)


async def shuttle(hubs: dict[str, SyncHub], budget: int = 8, rounds: int = 400) -> list[int]:
    """Move frames both ways until nothing is left to do; returns the number of work slices per round."""
    slices = []
    for _ in range(rounds):
        moved = False
        count = 0
        for name, hub in hubs.items():
            hub.fire_timers()
            while await hub.work(budget):
                count += 1
            count += 1
            other = hubs["b" if name == "a" else "a"]
            for link, frames, _closed in hub.output():
                if frames:
                    moved = True
                    other.feed(link, frames)
        slices.append(count)
        if not moved:
            break
    return slices


def test_catch_up_in_slices_then_live_and_in_sync() -> None:
    async def scenario() -> None:
        a, b, ha, hb = await pair()
        for i in range(40):
            await call(a, "create_record", table=CONTACTS, values={f"{CONTACTS}.name": f"P{i}"})
        ha.open("l", initiator=True)
        hb.open("l", initiator=False)
        # the first slices on B: each ingests at most 8 bundles and leaves work for the next call
        for _ in range(20):
            for link, frames, _ in ha.output():
                hb.feed(link, frames)
            await hb.work(8)
            for link, frames, _ in hb.output():
                ha.feed(link, frames)
            await ha.work(8)
        await shuttle({"a": ha, "b": hb})
        assert b.ws.state_hash() == a.ws.state_hash()
        events = json.loads(hb.take_events())
        kinds = [e["type"] for e in events]
        assert kinds[0] == "established" and events[0]["peer"] == a.ws.actor_id.hex()
        progress = [e for e in events if e["type"] == "progress"]
        assert progress and progress[-1]["remaining"] == 0 and progress[-1]["received"] == 42
        assert "caught_up" in kinds and "in_sync" in kinds
        # the status that first says "in sync" is not held up by the count of changes (a long scan on a
        # large workspace, which the person waiting for "in sync" at a join's end waited for); the next counts
        status = json.loads(hb.status(seen_mark=0))
        assert status["links"][0]["in_sync"] and status["since"] is None
        status = json.loads(hb.status(seen_mark=0))
        assert status["since"]["total"] == 42 and status["since"]["people"][0]["name"] == "Alice"
        assert status["links"][0]["in_sync"] and status["unshared"] == 0
        assert status["links"][0]["peer_name"] == "Alice"  # known once her bundles arrived

        # live: B edits, A receives it; A's status says B holds all of A's bundles
        rid = (await call(b, "rows", table=CONTACTS))["rows"][0]["id"]
        await call(b, "set_cell", record=rid, field=f"{CONTACTS}.phone", value="555")
        assert json.loads(hb.status())["unshared"] == 1
        await shuttle({"a": ha, "b": hb})
        assert (await call(a, "record", record=rid))["values"][f"{CONTACTS}.phone"] == "555"
        assert json.loads(hb.status())["unshared"] == 0
        # others' bundles stored, what "changes since you last synced" is recounted on: B's own edit is not one
        assert (hb.arrived, ha.arrived) == (42, 1)
        assert json.loads(ha.status())["unshared"] == 0

    run(scenario())


def test_no_acknowledgement_before_output_and_slices_bound_the_ingest() -> None:
    async def scenario() -> None:
        a, b, ha, hb = await pair()
        ha.open("l", initiator=True)
        hb.open("l", initiator=False)
        await shuttle({"a": ha, "b": hb})  # handshake and the first catch-up
        for i in range(30):  # live pushes
            await call(a, "create_record", table=CONTACTS, values={f"{CONTACTS}.name": f"P{i}"})
        b.take_log()
        for link, frames, _ in ha.output():
            hb.feed(link, frames)
        assert await hb.work(4) is True  # 4 bundles ingested, more left
        assert len(b.take_log()) == 4  # stored and queued for the durable log...
        while await hb.work(4):
            pass
        acks = [decode_message_v1(f) for _l, frames, _c in hb.output() for f in frames]
        assert any(isinstance(m, Ack) for m in acks)  # ...acknowledged only when the driver takes output

    run(scenario())


def test_acceptor_refuses_a_peer_with_another_key_than_announced() -> None:
    async def scenario() -> None:
        _a, _b, ha, hb = await pair()
        ha.open("l", initiator=True)
        hb.open("l", initiator=False, expect_actor="00" * 32)
        await shuttle({"a": ha, "b": hb})
        closed = [e for e in json.loads(ha.take_events()) if e["type"] == "closed"]
        assert closed and closed[0]["reason"] == "not_joined" and closed[0]["by_peer"]
        assert not hb.links and not ha.links  # both forgot the link after its last output

    run(scenario())


def test_signed_requests_verify_and_carry_the_genesis() -> None:
    async def scenario() -> None:
        a, _b, ha, _hb = await pair()
        body = json.loads(await ha.relay_request("publish", json.dumps({"join_mode": "access_key"})))
        request, signature = decode_request_v1(body)
        assert NaclVerifier().verify(request.actor, request.signing_bytes(), signature)
        assert request.action == "publish" and request.args["join_mode"] == "access_key"
        assert a.ws.ingest(request.args["genesis"]).status == "duplicate"  # the workspace's own first bundle
        assert ha.is_owner()
        ident = generate_identity("Kim").to_json()
        ws_id = (await call(a, "info"))["workspace_id"]
        joined, sig = decode_request_v1(json.loads(await join_request(ident, ws_id, "K7X9QP", nacl_env)))
        assert joined.args == {"code": "K7X9QP", "name": "Kim"} and joined.actor == Identity.from_json(ident).actor_id
        assert NaclVerifier().verify(joined.actor, joined.signing_bytes(), sig)
        auth = json.loads(await ha.signal_auth("AAAAAAAAAAAAAAAAAAAAAA=="))
        assert auth["type"] == "auth" and auth["actor"] == a.ws.actor_id.hex()

    run(scenario())


def test_hash_steps_fill_the_state_hash_a_page_per_call_only_while_a_link_is_open() -> None:
    async def scenario() -> None:
        a, b, ha, hb = await pair()
        for i in range(30):
            await call(a, "create_record", table=CONTACTS, values={f"{CONTACTS}.name": f"P{i}"})
        assert ha.hash_step(5) is False  # no link: nobody will ask for the hash
        assert not ha.replica.hash_is_current() and not ha.wants_hash
        ha.open("l", initiator=True)
        assert ha.wants_hash
        calls = 1
        while ha.hash_step(5):
            calls += 1
        assert calls > 5  # many small pages, not one long call
        assert ha.replica.hash_is_current() and not ha.wants_hash
        assert ha.state_hash() == a.ws.state_hash()
        # the worker's own setting: checks wait for these pages, and the end of a catch-up checks as soon
        # as they are read (tests/sync/test_catchup_end.py), not `quiet_ms` later
        worker = SyncHub(b)
        assert worker.config.hash_in_steps and worker.config.check_when_caught_up
        worker.detach()
        # an edit between two pages: the pages read so far are dropped and the hash read again
        assert ha.hash_step(5) is False
        await call(a, "create_record", table=CONTACTS, values={f"{CONTACTS}.name": "Q"})
        assert ha.hash_step(5) is True
        await call(a, "create_record", table=CONTACTS, values={f"{CONTACTS}.name": "R"})
        while ha.hash_step(5):
            pass
        assert ha.replica.hash_is_current() and ha.state_hash() == a.ws.state_hash()
        del b, hb

    run(scenario())


def test_catch_up_progress_moves_slice_by_slice_within_a_batch() -> None:
    async def scenario() -> None:
        a, b, ha, hb = await pair()
        for i in range(150):
            await call(a, "create_record", table=CONTACTS, values={f"{CONTACTS}.name": f"Person number {i}"})
        ha.open("l", initiator=True)
        hb.open("l", initiator=False)
        for _ in range(60):  # frames reach B one at a time, B works a slice of 4 after each (as on a network)
            for link, frames, _ in ha.output():
                for frame in frames:
                    hb.feed(link, [frame])
                    await hb.work(4)
            while await hb.work(4):
                pass
            for link, frames, _ in hb.output():
                ha.feed(link, frames)
            await ha.work(4)
        await shuttle({"a": ha, "b": hb}, budget=4)
        assert b.ws.state_hash() == a.ws.state_hash()
        progress = [e for e in json.loads(hb.take_events()) if e["type"] == "progress"]
        received = [e["received"] for e in progress]
        assert received == sorted(received) and received[-1] == 152
        assert all(e["received"] + e["remaining"] == 152 for e in progress[1:])  # the total stays the same
        # more steps than batches: the bar moved inside batches too, at most 4 bundles a step
        batch_ends = [e for e in progress if e["received"] % 4 != 0 or e["remaining"] == 0]
        assert len(progress) > 2 * len(batch_ends) > 0, received

    run(scenario())


class ManyVerifier(NaclVerifier):
    """PyNaCl with WebCryptoVerifier's batch entry point: `known` verdicts are taken where given."""

    async def verify_many_async(self, items: list[tuple[bytes, bytes, bytes]],
                                known: list[bool | None] | None = None) -> list[bool]:
        return [bool(known[i]) if known is not None and known[i] is not None else self.verify(*item)
                for i, item in enumerate(items)]


class Pool:
    """A stand-in for the worker's verify pool (verifypool.js): unpacks the items, answers with PyNaCl's
    verdicts (or `answer`'s), and notes how many bundles the receiver held when each batch was handed in."""

    def __init__(self, answer: Any = None) -> None:
        self.ws: Any = None
        self.calls: list[tuple[int, int]] = []  # (bundles stored on B when handed in, items)
        self.answer = answer

    def __call__(self, packed: bytes, count: int) -> Any:
        self.calls.append((self.ws.conn.execute("SELECT count(*) FROM bundles").fetchone()[0], count))
        items = []
        at = 0
        for _ in range(count):
            length = int.from_bytes(packed[at + 96:at + 100], "little")
            items.append((packed[at:at + 32], packed[at + 100:at + 100 + length], packed[at + 32:at + 96]))
            at += 100 + length
        assert at == len(packed)

        async def verdicts() -> bytes:
            if self.answer is not None:
                return self.answer(items)
            return bytes(1 if NaclVerifier().verify(*item) else 0 for item in items)
        return verdicts()


async def joined_with(pool: Pool, records: int) -> tuple[Session, Session, SyncHub, SyncHub]:
    """Alice with `records` records; Bo (verifying with ManyVerifier) about to catch up through `pool`."""
    async def many_env(identity: Identity) -> Any:
        env = await nacl_env(identity)
        return dataclasses.replace(env, verifier=ManyVerifier())

    a = await Session.create(generate_identity("Alice").to_json(), "Show", ["contacts"], nacl_env)
    for i in range(records):
        await call(a, "create_record", table=CONTACTS, values={f"{CONTACTS}.name": f"P{i}"})
    info = await call(a, "info")
    b = await Session.join(generate_identity("Bo").to_json(), info["workspace_id"], many_env)
    pool.ws = b.ws
    quick = SessionConfig(quiet_ms=0)
    return a, b, SyncHub(a, quick), SyncHub(b, quick, verify_pool=pool)


def test_a_catch_up_hands_the_next_slice_to_the_verify_pool_before_this_one_applies() -> None:
    """The browser's catch-up verified each slice on the worker's own thread (Chromium's WebCrypto
    verifies where it is called): now the next slice's signatures go to the verify pool while this one
    applies. So the pool is handed bundles that are not stored yet AND lie beyond the slice being
    applied (B held fewer bundles than the ones handed in would make), every verdict it gave is used,
    and the end state is A's."""
    async def scenario() -> None:
        pool = Pool()
        a, b, ha, hb = await joined_with(pool, 60)
        ha.open("l", initiator=True)
        hb.open("l", initiator=False)
        await shuttle({"a": ha, "b": hb}, budget=8)
        assert b.ws.state_hash() == a.ws.state_hash()
        handed = sum(n for _stored, n in pool.calls)
        assert handed == 62, pool.calls  # each bundle's signature handed in once (none re-sent)
        assert hb.ahead.stats() == {"prepared": 62, "taken": 62, "answered": 62}
        # batches handed in while the slice before them was still to apply: with them B would hold
        # more than one slice (8) beyond what it held then
        handed_through = list(itertools.accumulate(n for _stored, n in pool.calls))
        ahead = [i for i, (stored, _n) in enumerate(pool.calls) if handed_through[i] > stored + 8]
        assert len(ahead) >= 5, pool.calls

    run(scenario())


class Stamped(bytes):
    """The verify pool's answer as verifypool.js gives it: the verdicts, stamped with when they came back
    and the Ed25519 backend that gave them."""

    resolvedAt: float
    backend: str


def test_the_catch_up_says_where_its_time_went() -> None:
    """The split bench.browser_bench prints (docs/benchmarks.md session 16): each part of the slices'
    time within SyncHub.work's whole call, and the wait for verdicts told apart into the pool answering
    late (here 5 ms a batch) and the way back to the waiting slice once it answered; and the verdicts
    each Ed25519 backend of the pool gave (verifier.js picks the one measured cheaper)."""
    async def scenario() -> None:
        pool = Pool()
        late = Pool()

        def slow(packed: bytes, count: int) -> Any:
            answer = late(packed, count)

            async def stamped() -> bytes:
                await asyncio.sleep(0.005)
                out = Stamped(await answer)
                out.resolvedAt = time.perf_counter() * 1000
                out.backend = "sodium"
                return out
            return stamped()

        a, b, ha, hb = await joined_with(pool, 40)
        late.ws = b.ws
        hb.ahead = VerifyAhead(slow)
        ha.open("l", initiator=True)
        hb.open("l", initiator=False)
        await shuttle({"a": ha, "b": hb}, budget=8)
        assert b.ws.state_hash() == a.ws.state_hash()
        split = json.loads(hb.verify_ahead())
        ms = split["ms"]
        assert split["answered"] == 42 and 1 <= split["waits"] <= len(late.calls), (split, late.calls)
        assert all(v >= 0 for v in ms.values()), ms
        parts = ms["prepare"] + ms["check"] + ms["verdict_wait"] + ms["verify"] + ms["apply"]
        assert 0 < parts <= ms["work"] + 5, ms  # rounded to ms each
        assert ms["verdict_wait"] >= 5 * split["waits"] - 5, ms  # each awaited answer came 5 ms late
        assert ms["verdict_late"] >= 5 * split["waits"] - 5, ms
        assert ms["verdict_late"] + ms["verdict_hop"] <= ms["verdict_wait"] + 2, ms
        assert split["backends"] == {"sodium": 42}, split  # which backend the pool measured cheaper

    run(scenario())


def test_what_the_verify_pool_cannot_tell_or_fails_on_is_verified_here_and_a_forgery_is_refused() -> None:
    """The pool's answers are verdicts only: "could not tell" (2), a failed answer, or a pool that
    throws leaves those bundles to the receiver's own verifier, and a forged signature is refused
    whatever path it took."""
    async def scenario() -> None:
        for answer in (lambda items: bytes([2] * len(items)), lambda items: 1 / 0):
            pool = Pool(answer)
            a, b, ha, hb = await joined_with(pool, 30)
            ha.open("l", initiator=True)
            hb.open("l", initiator=False)
            await shuttle({"a": ha, "b": hb}, budget=8)
            assert b.ws.state_hash() == a.ws.state_hash()
            assert pool.calls

        # a forged bundle (a signature bit flipped) in a batch handed to the pool ahead: refused, the rest applied
        pool = Pool()
        a, b, _ha, hb = await joined_with(pool, 20)
        wires = [bundle.wire for bundle in a.ws.oplog.bundles()]
        forged = bytearray(wires[-1])
        forged[forged.find(decode_bundle(wires[-1]).signature) + 5] ^= 1
        batches = [wires[:8], [*wires[8:-1], bytes(forged)]]
        hb.ahead.prepare(batches[0])
        hb.ahead.prepare(batches[1])
        results = [r for batch in batches for r in await ingest_many(b.ws, batch, ahead=hb.ahead)]
        assert hb.ahead.taken == len(wires) and sum(n for _s, n in pool.calls) == len(wires)
        assert [r.status for r in results[:-1]] == ["applied"] * (len(wires) - 1), results
        assert (results[-1].status, results[-1].reason) == ("rejected", "bad_signature"), results[-1]

    run(scenario())
