"""Random concurrent text and list edits on 3 to 5 peers, synced in random orders, converge to the
same rendered values, with no element duplicated (every insertion uses a value of its own, so a
value seen twice would be an element copied by a rewrite)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from test_crdt import NOTES, NOTES_MODULE, TAGS

from helpers import ManualClock, Peer, make_peer


def _pull(dst: Peer, src: Peer, rng: random.Random) -> None:
    """dst receives src's bundles it lacks; when `rng` says so, in shuffled order (parked, then drained)."""
    wires = [b.wire for b in src.ws.oplog.bundles()]
    if rng.random() < 0.5:
        rng.shuffle(wires)
    for wire in wires:
        dst.ws.ingest(wire)
    dst.ws.drain_parked()


@pytest.mark.parametrize("seed", range(12))
def test_random_text_and_list_edits_converge_without_duplicates(tmp_path, seed: int) -> None:
    rng = random.Random(seed)
    clock = ManualClock()
    first = make_peer("p0", str(tmp_path / "p0.db"), clock, seed=seed * 10 + 1, modules=())
    first.ws.adopt_module(NOTES_MODULE)
    record = first.ws.create_record("props.Props", {"item": "Dagger"})
    peers = [first] + [make_peer(f"p{i}", str(tmp_path / f"p{i}.db"), clock, seed=seed * 10 + 2 + i,
                                 workspace_from=first) for i in range(1, rng.randint(3, 5))]
    for peer in peers[1:]:
        _pull(peer, first, rng)
    inserted = 0
    for _round in range(rng.randint(4, 8)):
        for peer in rng.sample(peers, rng.randint(1, len(peers))):
            with peer.ws.transaction() as tx:
                for _ in range(rng.randint(1, 3)):
                    shown = peer.ws.records.get(record).get("tags") or []
                    text = peer.ws.records.get(record).get("notes") or ""
                    choice = rng.random()
                    if choice < 0.35 or not shown:
                        inserted += 1
                        tx.add_to_list(record, TAGS, f"{peer.name}-{inserted}", rng.randint(0, len(shown)))
                    elif choice < 0.5:
                        tx.remove_from_list(record, TAGS, rng.randrange(len(shown)))
                    elif choice < 0.6:
                        tx.move_in_list(record, TAGS, rng.randrange(len(shown)), rng.randrange(len(shown)))
                    elif choice < 0.7:
                        keep = [v for v in shown if rng.random() < 0.6]
                        inserted += 1
                        tx.set_list(record, TAGS, [*keep, f"{peer.name}-{inserted}"])
                    elif choice < 0.75:
                        inserted += 1
                        tx.clear_and_add(record, TAGS, [f"{peer.name}-{inserted}"])
                    else:
                        at = rng.randint(0, len(text))
                        tx.edit_text(record, NOTES, [(at, rng.randint(0, len(text) - at) if rng.random() < 0.3 else 0,
                                                      f"<{peer.name}>")])
        for _ in range(rng.randint(0, len(peers))):  # some pairs sync between rounds, in random directions
            a, b = rng.sample(peers, 2)
            _pull(a, b, rng)
    for _ in range(2):  # then everyone with everyone
        for a in peers:
            for b in peers:
                if a is not b:
                    _pull(a, b, rng)
    tags = [tuple(p.ws.records.get(record).get("tags") or []) for p in peers]
    notes = [p.ws.records.get(record).get("notes") for p in peers]
    assert len(set(tags)) == 1 and len(set(notes)) == 1
    assert len({p.ws.state_hash() for p in peers}) == 1
    duplicated = [value for value, n in Counter(tags[0]).items() if n > 1]
    assert duplicated == []
    first.ws.rebuild()
    assert tuple(first.ws.records.get(record).get("tags") or []) == tags[0]
