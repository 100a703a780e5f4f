"""HLC: monotonic, byte order equals logical order, receive merges, future clocks are refused."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from openprod import hlc

walls = st.integers(min_value=0, max_value=2**48)
counters = st.integers(min_value=0, max_value=hlc.MAX_COUNTER)


@given(walls, counters, walls, counters)
def test_byte_order_is_logical_order(w1: int, c1: int, w2: int, c2: int) -> None:
    a, b = hlc.pack(w1, c1), hlc.pack(w2, c2)
    assert (a < b) == ((w1, c1) < (w2, c2))
    assert hlc.unpack(a) == (w1, c1)


@given(st.lists(st.tuples(st.sampled_from(["tick", "receive"]), st.integers(-5_000, 5_000),
                          walls, counters), max_size=60))
def test_tick_is_strictly_monotonic_whatever_the_physical_clock_does(steps: list) -> None:
    now = [1_700_000_000_000]
    clock = hlc.Clock(lambda: now[0])
    last = clock.last
    for kind, jump, wall, counter in steps:
        now[0] = max(0, now[0] + jump)  # the physical clock may jump backwards
        if kind == "tick":
            stamp = clock.tick()
            assert stamp > last
            last = stamp
        else:
            remote = hlc.pack(wall % (now[0] + 1), counter % 1000)
            clock.receive(remote)
            assert clock.last > last and clock.last > remote
            last = clock.last


def test_receive_then_tick_orders_after_the_remote_event() -> None:
    clock = hlc.Clock(lambda: 1_000)
    remote = hlc.pack(5_000, 7)  # a peer slightly ahead (within drift)
    clock.receive(remote)
    assert clock.tick() > remote


def test_future_remote_clock_is_refused_and_leaves_the_clock_untouched() -> None:
    clock = hlc.Clock(lambda: 1_000_000)
    clock.tick()
    before = clock.last
    remote = hlc.pack(1_000_000 + 5 * 60 * 1000 + 1, 0)
    refusal = clock.check_future(remote, hlc.DEFAULT_MAX_FUTURE_DRIFT_MS)
    assert refusal is not None and refusal.ahead_ms == 5 * 60 * 1000 + 1
    assert "ahead of local time" in refusal.describe()
    assert clock.last == before
    assert clock.check_future(hlc.pack(1_000_000 + 60_000, 0), hlc.DEFAULT_MAX_FUTURE_DRIFT_MS) is None


def test_display_form() -> None:
    assert hlc.to_display(hlc.pack(1_705_314_600_123, 42)) == "2024-01-15T10:30:00.123Z/42"
