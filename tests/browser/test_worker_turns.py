"""The worker's queue of Python turns (web/js/worker/turns.js), in both engines: a person's call
queued behind background work goes first, the background work still all completes, in order, and
a failing turn rejects only its own caller. Asserted on the order turns ran in, never on durations.

Then the worker itself (Chromium): an edit made here never makes the Sync screen recount "N changes
since you last synced" (a scan of the whole log in a large workspace, a long turn an edit would
wait behind); a change arriving from elsewhere still does.
"""

from __future__ import annotations

from typing import Any

import pytest
from appdriver import AppPage

pytestmark = pytest.mark.browser

QUEUED_BEHIND = """async () => {
    const { Turns } = await import('/js/worker/turns.js');
    const turns = new Turns();
    const order = [];
    let release;
    let started;
    const gate = new Promise((resolve) => { release = resolve; });
    const running = new Promise((resolve) => { started = resolve; });
    const first = turns.run(async () => {
        order.push('bg0 start');
        started();
        await gate;
        order.push('bg0 end');
        return 0;
    }, { label: 'bg0' });
    await running; // bg0 has its turn; everything below queues behind it
    const rest = [1, 2, 3].map((i) => turns.run(() => { order.push(`bg${i}`); return i; }, { label: `bg${i}` }));
    const failing = turns.run(() => { throw new Error('refused'); }, { label: 'bad' })
        .catch((err) => `error: ${err.message}`);
    const edit = turns.run(() => { order.push('edit'); return 'saved'; }, { lane: 'person', label: 'set_cell' });
    const pendingWhileBlocked = turns.pending();
    release();
    const results = await Promise.all([first, ...rest, failing, edit]);
    return { order, results, pendingWhileBlocked, stats: turns.stats() };
}"""

# A background loop like sync's catch-up: each turn is queued only when the previous one has
# finished, and each turn is plain synchronous work (no await inside). The page's call arrives as a
# message (a macrotask), posted during the loop's first turn: it must run before the loop ends.
LOOP_AND_MESSAGE = """async (count) => {
    const { Turns } = await import('/js/worker/turns.js');
    const turns = new Turns();
    const order = [];
    const channel = new MessageChannel();
    let edit = null;
    channel.port1.onmessage = () => {
        edit = turns.run(() => { order.push('edit'); return 'saved'; }, { lane: 'person', label: 'set_cell' });
    };
    const busy = () => { let x = 0; for (let i = 0; i < 20000; i += 1) x += Math.sqrt(i); return x; };
    for (let i = 0; i < count; i += 1) {
        await turns.run(() => {
            if (i === 0) channel.port2.postMessage('edit');
            busy();
            order.push(i);
        }, { label: 'sync:work' });
    }
    const saved = edit ? await edit : null;
    channel.port1.close();
    return { order, saved };
}"""


def test_a_persons_turn_goes_before_queued_background_work_which_still_completes(profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    out = app.page.evaluate(QUEUED_BEHIND)
    assert out["pendingWhileBlocked"] == {"person": 1, "background": 4}
    assert out["order"] == ["bg0 start", "bg0 end", "edit", "bg1", "bg2", "bg3"]
    assert out["results"] == [0, 1, 2, 3, "error: refused", "saved"]
    stats = out["stats"]
    assert stats["counts"] == {"person": 1, "background": 5}
    assert [w["behind"] for w in stats["slowestPersonWaits"]] == ["bg0"]
    assert set(stats["totals"]) == {"bg0", "bg1", "bg2", "bg3", "bad", "set_cell"}


def test_a_call_posted_during_a_loop_of_background_turns_runs_before_the_loop_ends(
        profile: Any, server: Any) -> None:
    app = AppPage(profile.new_page()).open(server.url)
    count = 40
    out = app.page.evaluate(LOOP_AND_MESSAGE, count)
    assert out["saved"] == "saved"
    order = out["order"]
    assert sorted(x for x in order if x != "edit") == list(range(count))  # every background turn ran, in order
    assert [x for x in order if x != "edit"] == list(range(count))
    assert order.index("edit") < count, order  # the loop yielded to the page's message: it did not wait for the end
