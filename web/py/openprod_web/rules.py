"""Rules and their suggestions for the page: a rule built from plain choices ("records in Lighting
Cues where Called is Yes go into SM Cues"), previewed before it is saved, edited or turned off;
suggestions ("Remove it?") accepted or dismissed one by one or all together. Refusals, cycles
included, are said in words and write nothing."""

from __future__ import annotations

import json
import re
from typing import Any

from openprod import Proposal, RuleCycleError, RuleError, ValidationError, Workspace

from . import writes
from .fields import coerce_input

OPS = {"is": "==", "is_not": "!="}
WHEN = re.compile(r'^table == "(?P<table>[^"\\]+)"(?: AND (?P<field>[\w.]+) (?P<op>==|!=) (?P<value>.+))?$')


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # "..." with \" and \\ escaped, as the query language reads them


class RulesApi:
    """Mixed into Session."""

    ws: Workspace

    def _rule_table(self, table: str | None) -> str:
        tdef = self.ws.schema.tables.get(table or "")
        return tdef.display_name if tdef is not None else (table or "")

    def _rule_field(self, field_id: str) -> str:
        fdef = self.ws.schema.fields.get(field_id)
        if fdef is None:
            return self._rule_table(field_id) if field_id in self.ws.schema.tables else "any field"
        return f"{fdef.display_name} in {self._rule_table(fdef.table)}"

    def _what_rule_does(self, what: str) -> str:
        if what in self.ws.schema.tables:
            return f"puts records in {self._rule_table(what)}"
        return f"fills in {self._rule_field(what)}" if what in self.ws.schema.fields else "changes records"

    def _definition(self, d: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """(name, create_rule keywords) from the page's plain choices."""
        ws = self.ws
        source = ws.schema.table(d.get("source_table") or "")
        when = f"table == {_literal(source.id)}"
        if d.get("field"):
            fdef = source.field(str(d["field"]).rsplit(".", 1)[-1])
            op = d.get("op") or "is"
            if op in ("empty", "filled"):
                when += f" AND {fdef.id} {'==' if op == 'empty' else '!='} null"
            else:
                if op not in OPS:
                    raise ValidationError(f"unknown comparison {op!r}")
                when += f" AND {fdef.id} {OPS[op]} {_literal(coerce_input(fdef, d.get('value')))}"
        kw: dict[str, Any] = {"when": when, "auto_accept": bool(d.get("auto"))}
        if d.get("kind") == "match":
            kw.update(kind="match", match_on=list(d.get("match_on") or []),
                      normalize=["case", "spaces"] if d.get("loose") else [])
        else:
            target = d.get("table")
            kw.update(kind="membership", table=target or None)
            if target and d.get("default_field"):
                tdef = ws.schema.table(target)
                fdef = tdef.field(str(d["default_field"]).rsplit(".", 1)[-1])
                value = coerce_input(fdef, d.get("default_value"))
                if value is not None:
                    kw["defaults"] = {fdef.id: {"value": value, "mode": "fill_if_empty"}}
        if d.get("id"):
            kw["rule_id"] = d["id"]
        return str(d.get("name") or ""), kw

    def _refused(self, exc: Exception) -> ValidationError:
        """A rule's refusal in words for the person making it."""
        if isinstance(exc, RuleCycleError):
            steps = [f"“{writer}” {self._what_rule_does(what)}, which “{watcher}” watches"
                     for what, writer, watcher in exc.shared]
            return ValidationError("Not saved: this rule would set itself off again and again (" + "; ".join(steps)
                                   + "). Change what it looks at or what it fills in.")
        text = str(exc)
        for needle, said in (("names the table", "Choose the table the records go into."),
                             ("lists the fields", "Choose at least one field that must be the same."),
                             ("needs a name", "Give the rule a name."),
                             ("does not parse", "The condition is not complete: choose a field and a value.")):
            if needle in text:
                return ValidationError(said)
        return ValidationError(text)

    def _proposal_json(self, p: Proposal) -> dict[str, Any]:
        records = []
        for rid in p.records:
            found = self.ws.records.get(rid)
            records.append({"id": rid, "label": self.ws.records.label(rid), "tables": found.tables if found else []})
        table = p.table or (records[0]["tables"][0] if records and records[0]["tables"] else None)
        return {"id": p.id, "rule": p.rule, "rule_name": p.rule_name, "action": p.action, "records": records,
                "table": table, "table_name": self._rule_table(table), "description": p.description}

    def _summary(self, rule: Any) -> str:
        parts = [f"Looks at {self._condition_words(rule.when)}."]
        if rule.kind == "match":
            fields = " and ".join(self._rule_field(f) for f in rule.match_on)
            parts.append(f"Suggests merging records with the same {fields}"
                         + (", ignoring capital letters and extra spaces." if rule.normalize else "."))
        else:
            parts.append(f"Puts them in {self._rule_table(rule.table)}"
                         + ("".join(f", filling in {self._rule_field(f)} with {spec.get('value')!r}"
                                    for f, spec in rule.defaults.items())) + ".")
            parts.append("Suggests taking out records that no longer fit.")
        parts.append("Does it by itself for records changed from now on." if rule.auto_accept
                     else "Asks before doing anything.")
        return " ".join(parts)

    def _condition_words(self, when: str) -> str:
        m = WHEN.match(when)
        if m is None:
            return f"records where {when}"
        text = f"records in {self._rule_table(m['table'])}"
        if m["field"]:
            name = self.ws.schema.fields[m["field"]].display_name if m["field"] in self.ws.schema.fields else m["field"]
            value = m["value"]
            if value == "null":
                return f"{text} where {name} is {'empty' if m['op'] == '==' else 'filled in'}"
            shown = {"true": "Yes", "false": "No"}.get(value, value)
            text += f" where {name} {'is' if m['op'] == '==' else 'is not'} {shown}"
        return text

    def _builder(self, rule: Any) -> dict[str, Any] | None:
        """The page's choices back from a saved rule (None: a rule made elsewhere, kept as it is)."""
        m = WHEN.match(rule.when)
        if m is None:
            return None
        out: dict[str, Any] = {"id": rule.id, "name": rule.name, "kind": rule.kind, "source_table": m["table"],
                               "auto": rule.auto_accept, "table": rule.table, "match_on": list(rule.match_on),
                               "loose": bool(rule.normalize)}
        if m["field"]:
            raw = m["value"]
            out["field"] = m["field"]
            if raw == "null":
                out["op"] = "empty" if m["op"] == "==" else "filled"
            else:
                out["op"] = "is" if m["op"] == "==" else "is_not"
                out["value"] = json.loads(raw)
        for field_id, spec in rule.defaults.items():
            out["default_field"], out["default_value"] = field_id, spec.get("value")
        return out

    async def m_rules(self) -> dict[str, Any]:
        ws = self.ws
        rules = [{"id": r.id, "name": r.name, "kind": r.kind, "enabled": r.enabled, "auto": r.auto_accept,
                  "summary": self._summary(r), "builder": self._builder(r)} for r in ws.rules.list()]
        return {"rules": rules, "proposals": [self._proposal_json(p) for p in ws.rules.proposals()]}

    async def m_rule_preview(self, definition: dict[str, Any]) -> dict[str, Any]:
        name, kw = self._definition(definition)
        try:
            rule, would = self.ws.rules.preview(name or "This rule", **kw)
        except (RuleError, ValidationError) as exc:
            raise self._refused(exc) from None
        return {"summary": self._summary(rule), "proposals": [self._proposal_json(p) for p in would]}

    async def m_save_rule(self, definition: dict[str, Any]) -> dict[str, Any]:
        name, kw = self._definition(definition)
        try:
            self.ws.rules.preview(name, **kw)  # every refusal before the transaction opens
        except (RuleError, ValidationError) as exc:
            raise self._refused(exc) from None
        async with writes.transaction(self.ws, staging=False) as tx:
            rule_id = tx.create_rule(name, **kw)
        return {"id": rule_id}

    async def m_disable_rule(self, rule: str) -> dict[str, Any]:
        async with writes.transaction(self.ws, staging=False) as tx:
            tx.disable_rule(rule)
        return {"disabled": rule}

    def _current(self, ids: list[str]) -> list[Proposal]:
        current = {p.id: p for p in self.ws.rules.proposals()}
        gone = [i for i in ids if i not in current]
        if gone:
            what = "This suggestion no longer applies" if len(ids) == 1 else \
                f"{len(gone)} of these {len(ids)} suggestions no longer apply"
            raise ValidationError(f"{what}: the records changed since. Nothing was done; the list is up to date now.")
        return [current[i] for i in ids]

    async def m_accept_proposals(self, ids: list[str]) -> dict[str, Any]:
        """Carry out the suggestions, all in one change (undoable together), or none of them."""
        chosen = self._current(list(ids))
        async with writes.transaction(self.ws, staging=False) as tx:
            for p in chosen:
                tx.accept_proposal(p)
        return {"accepted": len(chosen)}

    async def m_dismiss_proposals(self, ids: list[str]) -> dict[str, Any]:
        for p in self._current(list(ids)):
            self.ws.rules.dismiss(p)
        return {"dismissed": len(ids)}


RULE_METHODS: dict[str, bool | str] = {
    "rules": False, "rule_preview": False, "save_rule": True, "disable_rule": True, "accept_proposals": True,
    "dismiss_proposals": "local",
}
