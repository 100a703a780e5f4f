"""Rules: automatic table membership and record matching, proposed or auto-accepted.

A rule is an operation (CreateRule; the same id again updates or disables it), so every peer has
the same rules. Rules fire on the peer that made the triggering change, inside its transaction:
an auto-accepted rule's ops join the same bundle (atomic, at most once per triggering change),
and an overlay edit fires into the overlay. Receivers never re-run rules, so replay stays
deterministic. Rules that wait for a person produce *proposals*, derived on demand from the
rules and the current state (plus a local list of dismissals): accepting one commits ordinary
ops attributed to the person and the rule.

A rule that could trigger itself, directly or through others (what it writes overlapping what
another watches, mapped fields counting as one), is refused when it is created, naming the
cycle; at run time a chain deeper than 1000 steps or longer than 30 s rolls everything back.
"""

from __future__ import annotations

import builtins
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from . import operations as o
from .context import Part
from .encoding import decode
from .errors import LocalError, ValidationError
from .ids import as_id, to_str
from .modules import normalize_value
from .oplog import MAIN_WRITES
from .query import QueryError, compile_query, matches, run_query
from .reads import facet_attached, group_value, table_members

if TYPE_CHECKING:
    from .context import Context
    from .query import CompiledQuery

KINDS = ("membership", "match")
MODES = ("fill_if_empty", "always", "preserve_on_restore")
CONDITION_LOST = ("propose_remove", "ignore", "auto_remove")
MAX_CHAIN_DEPTH = 1000
MAX_CHAIN_MS = 30_000
ANY_FIELD = "*"  # what a merge may write: everything


class RuleError(LocalError):
    """A rule definition is invalid."""


class RuleCycleError(RuleError):
    def __init__(self, message: str, path: list[str], shared: list[tuple[str, str, str]]) -> None:
        super().__init__(message)
        self.path = path
        self.shared = shared  # (field, written by, watched by)


class RuleLimitError(LocalError):
    """A chain of rule firings ran away; the whole transaction was rolled back."""


NORMALIZE = ("case", "spaces")  # what a match rule may be told to ignore; by default it matches exactly


@dataclass(frozen=True, eq=False)
class Rule:
    id: str
    name: str
    kind: str
    when: str
    table: str | None = None
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    match_on: tuple[str, ...] = ()
    auto_accept: bool = False
    on_condition_lost: str = "propose_remove"
    enabled: bool = True
    cycle_acknowledged: bool = False
    normalize: tuple[str, ...] = ()  # match rules: "case" and/or "spaces" ignored when comparing

    @property
    def key(self) -> bytes:
        return as_id(self.id, "rule id")

    def definition(self) -> dict[str, Any]:
        out = {"kind": self.kind, "when": self.when, "table": self.table, "defaults": self.defaults,
               "match_on": list(self.match_on), "auto_accept": self.auto_accept,
               "on_condition_lost": self.on_condition_lost, "enabled": self.enabled,
               "cycle_acknowledged": self.cycle_acknowledged}
        if self.normalize:
            out["normalize"] = list(self.normalize)
        return out

    @classmethod
    def from_definition(cls, rule_id: bytes, name: str, d: dict[str, Any]) -> Rule:
        return cls(to_str(rule_id), name, d.get("kind", "membership"), d.get("when", ""), d.get("table"),
                   dict(d.get("defaults") or {}), tuple(d.get("match_on") or ()), bool(d.get("auto_accept")),
                   d.get("on_condition_lost", "propose_remove"), bool(d.get("enabled", True)),
                   bool(d.get("cycle_acknowledged")), tuple(d.get("normalize") or ()))

    def comparable(self, value: Any) -> Any:
        """A match_on value as this rule compares it: exactly as typed unless told otherwise."""
        if not isinstance(value, str):
            return value
        if "spaces" in self.normalize:
            value = " ".join(value.split())
        if "case" in self.normalize:
            value = value.casefold()
        return value


@dataclass(frozen=True)
class Proposal:
    """Something a rule suggests and a person decides: add, remove, or merge records."""

    id: str
    rule: str
    rule_name: str
    action: str  # add_to_table, remove_from_table, merge
    records: tuple[str, ...]
    table: str | None
    description: str


# --- reading and checking definitions -------------------------------------------------------------


def load_rules(ws: Context) -> list[Rule]:
    return [Rule.from_definition(rid, name, decode(definition)) for rid, name, definition in ws.conn.execute(
        "SELECT rule_id, name, definition FROM rules ORDER BY rule_id")]


def _source_path(value: Any) -> str | None:
    return value[len("$source."):] if isinstance(value, str) and value.startswith("$source.") else None


def check_rule(ws: Context, rule: Rule) -> CompiledQuery:
    """Validate a definition against the schema; returns its compiled `when` query."""
    if rule.kind not in KINDS:
        raise RuleError(f"a rule's kind is one of {list(KINDS)}, got {rule.kind!r}")
    if rule.on_condition_lost not in CONDITION_LOST:
        raise RuleError(f"on_condition_lost is one of {list(CONDITION_LOST)}")
    try:
        compiled = compile_query(rule.when, ws.schema, context="filter")
    except QueryError as exc:
        raise RuleError(f"the rule's condition does not parse: {exc}") from None
    if rule.kind == "membership":
        if rule.table is None:
            raise RuleError("a membership rule names the table records are added to")
        tdef = ws.schema.table(rule.table)
        for field_id, spec in rule.defaults.items():
            fdef = tdef.field(field_id.rsplit(".", 1)[-1])
            if fdef.id != field_id:
                raise RuleError(f"default {field_id!r} is not a field of {tdef.display_name}")
            if not isinstance(spec, dict) or "value" not in spec:
                raise RuleError(f"default {field_id!r} needs a 'value' (and optionally a 'mode')")
            if spec.get("mode", "fill_if_empty") not in MODES:
                raise RuleError(f"default mode is one of {list(MODES)}")
            path = _source_path(spec["value"])
            if path is not None:
                ws.schema.field(path)
            else:
                normalize_value(fdef, spec["value"])
    else:
        if not rule.match_on:
            raise RuleError("a match rule lists the fields that must be equal (match_on)")
        unknown = sorted(set(rule.normalize) - set(NORMALIZE))
        if unknown:
            raise RuleError(f"a match rule can ignore {' and '.join(NORMALIZE)}, not {', '.join(unknown)}")
        for field_id in rule.match_on:
            ws.schema.field(field_id)
    return compiled


def _writes(ws: Context, rule: Rule) -> set[str]:
    if rule.kind == "match":
        return {ANY_FIELD}
    assert rule.table is not None
    return {rule.table} | {ws.groups.key(f) for f in rule.defaults}


def _watches(ws: Context, compiled: CompiledQuery) -> set[str]:
    return {ws.groups.key(w) if w.count(".") == 2 else w for w in compiled.watched}


@dataclass(frozen=True)
class Dependency:
    """One thing that fires on changes (a rule, a trigger): what it watches and what it writes, as
    semantic field keys and table ids (`ANY_FIELD` in `writes`: anything)."""

    name: str
    writes: frozenset[str]
    watches: frozenset[str]
    fires_itself: bool = True  # False for a match rule: merging is idempotent


def rule_dependencies(ws: Context, rules: list[Rule]) -> list[Dependency]:
    """The enabled rules whose cycles are checked (a cycle a person acknowledged is left out)."""
    live = [r for r in rules if r.enabled and not r.cycle_acknowledged]
    return [Dependency(r.name, frozenset(_writes(ws, r)),
                       frozenset(_watches(ws, compile_query(r.when, ws.schema, context="filter"))),
                       r.kind != "match") for r in live]


def find_cycle(ws: Context, rules: list[Rule]) -> tuple[list[str], list[tuple[str, str, str]]] | None:
    """A cycle in 'X writes what Y watches' among rules, or None."""
    return dependency_cycle(rule_dependencies(ws, rules))


def dependency_cycle(nodes: list[Dependency]) -> tuple[list[str], list[tuple[str, str, str]]] | None:
    """A cycle in 'X writes what Y watches' (Tarjan's strongly connected components), or None:
    (the names along it, back to the first; (field, written by, watched by) for each step).
    Shared by rules and script triggers, so a rule and a trigger that feed each other are found."""
    ids = [str(i) for i in range(len(nodes))]
    by_id = dict(zip(ids, nodes, strict=True))
    names = {i: n.name for i, n in by_id.items()}
    edges: dict[str, list[tuple[str, str]]] = {i: [] for i in ids}
    for xi, x in by_id.items():
        for yi, y in by_id.items():
            if xi == yi and not x.fires_itself:
                continue
            common = sorted(y.watches) if ANY_FIELD in x.writes else sorted(x.writes & y.watches)
            if common:
                edges[xi].append((yi, common[0]))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w, _f in edges[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[str] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            components.append(component)

    for v in edges:
        if v not in index:
            strongconnect(v)
    for component in components:
        members = set(component)
        if len(component) == 1 and not any(w == component[0] for w, _f in edges[component[0]]):
            continue
        # walk the cycle inside the component to name it
        start = min(component, key=int)
        path: list[str] = [start]
        shared: list[tuple[str, str, str]] = []
        node = start
        while True:
            nxt, via = next((w, f) for w, f in edges[node] if w in members and (w not in path or w == start))
            shared.append((via, names[node], names[nxt]))
            if nxt == start:
                break
            path.append(nxt)
            node = nxt
        return [names[p] for p in [*path, start]], shared
    return None


def plan_rule(ws: Context, name: str, *, when: str, kind: str = "membership", table: str | None = None,
              defaults: dict[str, Any] | None = None, match_on: list[str] | None = None, auto_accept: bool = False,
              on_condition_lost: str = "propose_remove", acknowledge_cycle: bool = False, rule_id: Any = None,
              enabled: bool = True, normalize: list[str] | None = None) -> Rule:
    """A rule as `create_rule` would save it, checked (definition, then cycles), nothing written.
    Raises RuleError (or a ValidationError naming an unknown table or field) or RuleCycleError."""
    rid = as_id(rule_id, "rule id") if rule_id is not None else ws.ids.new()
    table = ws.schema.table(table).id if table is not None else None

    def full(name: str, tables: list[str] | None = None) -> str:  # unknown: check_rule says why
        try:
            return ws.schema.field(name, tables).id
        except ValidationError:
            return name

    norm_defaults = {}
    for field_id, spec in (defaults or {}).items():
        norm_defaults[full(field_id, [table] if table else None)] = (
            spec if isinstance(spec, dict) else {"value": spec, "mode": "fill_if_empty"})
    match_on = [full(f) for f in match_on or ()]
    rule = Rule(to_str(rid), " ".join(str(name).split()), kind, when, table, norm_defaults,
                tuple(match_on or ()), auto_accept, on_condition_lost, enabled, acknowledge_cycle,
                tuple(normalize or ()))
    if not rule.name:
        raise ValidationError("a rule needs a name")
    check_rule(ws, rule)
    others = [r for r in load_rules(ws) if r.id != rule.id]
    cycle = find_cycle(ws, [*others, rule]) if enabled else None
    if cycle is not None:
        path, shared = cycle
        fields = ", ".join(f"{f} (written by {w}, watched by {x})" for f, w, x in shared)
        raise RuleCycleError(f"rule {rule.name!r} would create a cycle: {' -> '.join(path)} via {fields}",
                             path, shared)
    return rule


def rule_id_for(ws: Context) -> bytes:
    return ws.ids.new()


# --- firing -----------------------------------------------------------------------------------------


class RuleWrites(Protocol):
    """What rules do to a local transaction (`transaction.Transaction`): rules sit below the write
    pipeline and are handed the transaction, never import it."""

    ops: list[o.Op]

    def add(self, cls: type[o.Op], _before: Any = ..., **payload: Any) -> o.Op: ...

    def remove_from_table(self, record: Any, table: str, *, discard: bool = False) -> None: ...

    def merge_records(self, first: Any, second: Any) -> str: ...


class RuleEngine:
    """Runs auto-accepted rules at the end of a local transaction, and derives proposals."""

    def __init__(self, ws: Context) -> None:
        self.ws = ws
        self._compiled: dict[tuple[str, str], Any] = {}
        # the stored rules, read once per change of the rules table (every local commit fires them)
        self._loaded: tuple[tuple[int, int], list[Rule]] | None = None

    def _stored(self) -> list[Rule]:
        """`load_rules`, kept until the rules table is written again (`Applier.rules_version`) or
        the caches reload (a rollback); never kept from inside an overlay's view (rolled back
        without a reload)."""
        ws = self.ws
        key = (ws.reloads, ws.applier.rules_version)
        if self._loaded is not None and self._loaded[0] == key:
            return self._loaded[1]
        stored = load_rules(ws)
        if not ws.overlays.view_open:
            self._loaded = (key, stored)
        return stored

    def _rules(self) -> list[tuple[Rule, Any]]:
        out = []
        for rule in self._stored():
            if not rule.enabled:
                continue
            key = (rule.id, rule.when)
            if key not in self._compiled or self._compiled[key].schema is not self.ws.schema:
                try:
                    self._compiled[key] = compile_query(rule.when, self.ws.schema, context="filter")
                except QueryError:
                    continue  # a rule whose condition no longer resolves is skipped, not fatal
            out.append((rule, self._compiled[key]))
        return out

    def fire(self, tx: RuleWrites) -> None:
        """Apply auto-accepted rules to what this transaction changed, until nothing new fires."""
        rules = [(r, c) for r, c in self._rules() if r.auto_accept]
        if not rules:
            return
        started = self.ws.env.now_ms()
        seen = 0
        depth = 0
        while seen < len(tx.ops):
            depth += 1
            if depth > MAX_CHAIN_DEPTH:
                raise RuleLimitError(f"rules fired more than {MAX_CHAIN_DEPTH} times in a chain; nothing was saved")
            if self.ws.env.now_ms() - started > MAX_CHAIN_MS:
                raise RuleLimitError(f"rules ran longer than {MAX_CHAIN_MS // 1000} s; nothing was saved")
            batch = tx.ops[seen:]
            seen = len(tx.ops)
            touched = _touched(self.ws, batch)
            for rule, compiled in rules:
                for entity, changed in touched.items():
                    self._fire_one(tx, rule, compiled, entity, changed, batch)

    def _fire_one(self, tx: RuleWrites, rule: Rule, compiled: Any, entity: bytes, changed: set[str],
                  trigger: list[o.Op]) -> None:
        ws = self.ws
        if rule.kind == "match":
            self._match(tx, rule, compiled, entity, changed)
            return
        assert rule.table is not None
        if not ws.conn.execute("SELECT 1 FROM entities WHERE entity_id = ? AND alive = 1", (entity,)).fetchone():
            return
        holds = matches(ws, entity, compiled, source=entity)
        inside = facet_attached(ws.conn, entity, rule.table)
        triggered_by = trigger[-1].op_id
        if holds and not inside:
            self._add(tx, rule, entity, triggered_by)
        elif not holds and inside and rule.on_condition_lost == "auto_remove" and self._added_by(entity, rule):
            tx.remove_from_table(entity, rule.table)

    def _added_by(self, entity: bytes, rule: Rule) -> bool:
        row = self.ws.conn.execute("SELECT source FROM facets WHERE entity_id = ? AND facet = ?",
                                   (entity, rule.table)).fetchone()
        return row is not None and row[0] == f"rule:{rule.key.hex()}"

    def _add(self, tx: RuleWrites, rule: Rule, entity: bytes, triggered_by: bytes) -> None:
        assert rule.table is not None
        tdef = self.ws.schema.table(rule.table)
        preserved: dict[str, Any] = {}
        if any(spec.get("mode") == "preserve_on_restore" for spec in rule.defaults.values()):
            row = self.ws.conn.execute(
                f"SELECT l.payload FROM {MAIN_WRITES} WHERE t.target = ? AND l.field = ?"
                " AND l.op_type = 'RemoveFromTable' ORDER BY l.ord DESC LIMIT 1",
                (entity, f"@facet:{rule.table}")).fetchone()
            if row is not None:
                preserved = dict(o.decode_op(row[0]).preserved)  # type: ignore[attr-defined]
        defaults: dict[str, Any] = {}
        for fdef in tdef.fields.values():
            spec = rule.defaults.get(fdef.id)
            current = group_value(self.ws.conn, self.ws.groups, entity, fdef.id, self.ws._show)
            empty = current is None or current.value is None
            if spec is None:
                if empty and fdef.default is not None:
                    defaults[fdef.id] = fdef.default
                continue
            mode = spec.get("mode", "fill_if_empty")
            value = self._value(spec["value"], entity)
            if mode == "preserve_on_restore" and fdef.id in preserved:
                value = preserved[fdef.id]
            if value is None or (mode != "always" and not empty):
                continue
            defaults[fdef.id] = normalize_value(fdef, value)
        tx.add(o.AddToTable, entity=entity, table=rule.table, defaults=defaults,
               source={"type": "rule", "rule": rule.key, "triggered_by": triggered_by})

    def _value(self, value: Any, entity: bytes) -> Any:
        path = _source_path(value)
        if path is None:
            return value
        found = group_value(self.ws.conn, self.ws.groups, entity, path, self.ws._show)
        return None if found is None else found.value

    def _match_groups(self, rule: Rule, compiled: Any) -> list[list[bytes]]:
        """Records that match `when` and agree on every match_on field (empty never matches)."""
        ws = self.ws
        groups: dict[tuple[Any, ...], list[bytes]] = {}
        for record in run_query(ws, compiled):
            entity = ws.redirects.resolve(bytes.fromhex(record.replace("-", "")))
            key = []
            for field_id in rule.match_on:
                found = group_value(ws.conn, ws.groups, entity, field_id, ws._show)
                if found is None or found.value is None or found.value == "":
                    break
                value = found.value
                key.append(rule.comparable(value))
            else:
                groups.setdefault(tuple(key), []).append(entity)
        exceptions = ws._merge_exceptions()
        out: list[list[bytes]] = []
        for members in groups.values():
            # records a person split apart never go in one cluster; the rest still match
            clusters: list[list[bytes]] = []
            for member in sorted(set(members)):
                home = next((c for c in clusters if not any(tuple(sorted((member, x))) in exceptions for x in c)),
                            None)
                if home is None:
                    clusters.append([member])
                else:
                    home.append(member)
            out.extend(c for c in clusters if len(c) > 1)
        return out

    def _match(self, tx: RuleWrites, rule: Rule, compiled: Any, entity: bytes, changed: set[str]) -> None:
        if not changed & {self.ws.groups.key(f) for f in rule.match_on} | {"@life"}:
            return
        entity = self.ws.redirects.resolve(entity)
        for members in self._match_groups(rule, compiled):
            if entity in members:
                survivor = members[0]
                for other in members[1:]:
                    if self.ws.redirects.resolve(other) != survivor:
                        tx.merge_records(survivor, other)

    # --- proposals ----------------------------------------------------------------------------

    def proposals(self) -> list[Proposal]:
        dismissed = {r[0] for r in self.ws.conn.execute("SELECT proposal_id FROM dismissed_proposals")}
        out: list[Proposal] = []
        for rule, compiled in self._rules():
            out.extend(self._suggest(rule, compiled))
        return [p for p in out if p.id not in dismissed]

    def preview(self, rule: Rule) -> list[Proposal]:
        """What a rule (saved or not) would do now, as proposals: for an automatic rule, what it
        would do to each record that changes from now on (it never reaches back on its own)."""
        compiled = compile_query(rule.when, self.ws.schema, context="filter")
        dismissed = {r[0] for r in self.ws.conn.execute("SELECT proposal_id FROM dismissed_proposals")}
        return [p for p in self._suggest(rule, compiled, everything=True) if p.id not in dismissed]

    def _suggest(self, rule: Rule, compiled: Any, everything: bool = False) -> list[Proposal]:
        ws = self.ws
        out: list[Proposal] = []
        if rule.kind == "match":
            if rule.auto_accept and not everything:
                return out
            for members in self._match_groups(rule, compiled):
                labels = " and ".join(ws.record_label(m) for m in members)
                out.append(_proposal(rule, "merge", tuple(members), None,
                                     f"{rule.name}: {labels} look like the same record. Merge them?"))
            return out
        assert rule.table is not None
        table_name = ws.schema.tables[rule.table].display_name if rule.table in ws.schema.tables else rule.table
        holding = {bytes.fromhex(r.replace("-", "")) for r in run_query(ws, compiled)}
        inside = set(table_members(ws.conn, rule.table))
        if everything or not rule.auto_accept:
            for entity in sorted(holding - inside):
                out.append(_proposal(rule, "add_to_table", (entity,), rule.table,
                                     f"{rule.name}: add {ws.record_label(entity)} to {table_name}?"))
        if rule.on_condition_lost == "propose_remove":
            for entity in sorted(inside - holding):
                if self._added_by(entity, rule):
                    out.append(_proposal(
                        rule, "remove_from_table", (entity,), rule.table,
                        f"{ws.record_label(entity)} no longer meets the criteria for {table_name}. Remove it?"))
        return out

    def accept(self, tx: RuleWrites, proposal: Proposal) -> None:
        current = {p.id: p for p in self.proposals()}
        if proposal.id not in current:
            raise ValidationError("this suggestion no longer applies (the data changed); reload the list")
        rule = next(r for r in load_rules(self.ws) if r.id == proposal.rule)
        if proposal.action == "add_to_table":
            self._add(tx, rule, as_id(proposal.records[0]), rule.key)
        elif proposal.action == "remove_from_table":
            assert proposal.table is not None
            tx.remove_from_table(proposal.records[0], proposal.table)
        else:
            survivor = proposal.records[0]
            for other in proposal.records[1:]:
                tx.merge_records(survivor, other)

    def dismiss(self, proposal: Proposal) -> None:
        self.ws.conn.execute("INSERT OR IGNORE INTO dismissed_proposals (proposal_id, rule_id, dismissed_at)"
                             " VALUES (?, ?, ?)", (proposal.id, as_id(proposal.rule), self.ws.env.now_ms()))


def _proposal(rule: Rule, action: str, records: tuple[bytes, ...], table: str | None, text: str) -> Proposal:
    digest = hashlib.sha256(rule.key + action.encode() + b"".join(records) + (table or "").encode()).digest()
    return Proposal(to_str(digest[:16]), rule.id, rule.name, action, tuple(to_str(r) for r in records), table, text)


def _touched(ws: Context, ops: list[o.Op]) -> dict[bytes, set[str]]:
    """Record -> what changed on it (semantic field keys, table ids, '@life'), for `changes`."""
    from .registers import register_writes

    out: dict[bytes, set[str]] = {}
    for op in ops:
        for target, field_id, _value in register_writes(op):
            if field_id.count(".") == 2:
                out.setdefault(ws.redirects.resolve(target), set()).update({field_id, ws.groups.key(field_id)})
        entity = getattr(op, "entity", None)
        if isinstance(entity, bytes):
            changed = out.setdefault(ws.redirects.resolve(entity), set())
            table = getattr(op, "table", None) or getattr(op, "facet", None) or getattr(op, "initial_table", None)
            if table:
                changed.add(table)
            if isinstance(op, (o.CreateEntity, o.RestoreEntity, o.DeleteEntity)):
                changed.add("@life")
    return out


def describe(rule: Rule) -> str:
    return f"{rule.name} ({'automatic' if rule.auto_accept else 'proposes'})"


__all__ = ["Dependency", "Proposal", "Rule", "RuleCycleError", "RuleEngine", "RuleError", "RuleLimitError", "Rules",
           "to_str"]


class Rules(Part):
    """`ws.rules`: auto-accepted rules and the proposals of the others (`RuleEngine`)."""

    def list(self) -> builtins.list[Rule]:
        return load_rules(self._cx)

    def dependencies(self) -> builtins.list[Dependency]:
        """What each enabled rule watches and writes, for cycle checks that include rules (triggers)."""
        return rule_dependencies(self._cx, load_rules(self._cx))

    def proposals(self) -> builtins.list[Proposal]:
        """What rules suggest and a person decides (add to a table, remove, merge)."""
        with self._cx.overlays.reading():
            return self._engine.proposals()

    def preview(self, name: str, **definition: Any) -> tuple[Rule, builtins.list[Proposal]]:
        """A rule checked as `tx.create_rule(name, **definition)` would save it (RuleError,
        RuleCycleError), and what it would do now, as proposals; nothing is written."""
        with self._cx.overlays.reading():
            rule = plan_rule(self._cx, name, **definition)
            return rule, self._engine.preview(rule)

    def dismiss(self, proposal: Proposal) -> None:
        self._cx.overlays.close_view()
        self._engine.dismiss(proposal)

    @property
    def _engine(self) -> RuleEngine:
        return self._cx.rules  # type: ignore[return-value]
