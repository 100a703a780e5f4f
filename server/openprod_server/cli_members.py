"""`openprod members list|approve|reject|remove`: the owner's roster on a relay (relay.py, members.py).

    openprod members list    --db show.db --identity me.json [--relay URL]   members, pending requests, audit
    openprod members approve --db show.db --identity me.json ACTOR            let a pending requester in
    openprod members reject  --db show.db --identity me.json ACTOR            decline a pending request
    openprod members remove  --db show.db --identity me.json ACTOR            take a member off

ACTOR is an actor id (64 hex digits) or a unique prefix of one (as `members list` shows), or a
requester's or member's name when exactly one has it. Errors are one line, and change nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def _base() -> Any:
    from . import cli

    return cli


def _roster(relay: str, ws: Any, ca: Path | None) -> dict[str, Any]:
    cli = _base()
    result: dict[str, Any] = cli._run(cli._client(relay, ws, ca).request("members"))
    return result


def resolve(roster: dict[str, Any], who: str, among: str) -> str:
    """A person as typed (actor id, id prefix, or name) -> their actor id, among members or pending requests."""
    people = roster[among] if among in ("pending", "removed") else roster["members"]
    text = who.strip()
    lowered = text.lower()
    matches = [p for p in people if str(p["actor"]).startswith(lowered) and len(lowered) >= 4]
    if not matches:
        matches = [p for p in people if str(p.get("name", "")).casefold() == text.casefold()]
    what = {"pending": "pending request", "removed": "removed member"}.get(among, "member")
    if not matches:
        raise click.ClickException(f"no {what} matches {who!r}; see `openprod members list`")
    if len(matches) > 1:
        raise click.ClickException(f"{who!r} matches {len(matches)} of them; give more of the actor id")
    return str(matches[0]["actor"])


def _command(name: str, help_text: str) -> Callable[[Callable[..., None]], Any]:
    """A `members` subcommand with the client options every one of them takes (cli.py's)."""
    cli = _base()

    def decorate(fn: Callable[..., None]) -> Any:
        for option in (cli.ca_option, cli.relay_option, cli.identity_option, cli.db_option):
            fn = option(fn)
        return members.command(name, help=help_text)(fn)

    return decorate


@click.group()
def members() -> None:
    """Who is in a workspace on a relay (owner only): members, requests to join, removal."""


def _setup() -> None:
    @_command("list", "Members with their names, pending requests, removed members and the audit log.")
    def members_list(db: Path, identity_path: Path, relay: str, ca: Path | None) -> None:
        cli = _base()
        cli._emit(_roster(relay, cli._open(db, identity_path), ca))

    @_command("approve", "Let a person who asked to join in.")
    @click.argument("who")
    def members_approve(db: Path, identity_path: Path, relay: str, ca: Path | None, who: str) -> None:
        _decide(db, identity_path, relay, ca, who, True)

    @_command("reject", "Decline a request to join.")
    @click.argument("who")
    def members_reject(db: Path, identity_path: Path, relay: str, ca: Path | None, who: str) -> None:
        _decide(db, identity_path, relay, ca, who, False)

    @_command("remove", "Take a member off: the relay no longer syncs with them or accepts their new changes.")
    @click.argument("who")
    def members_remove(db: Path, identity_path: Path, relay: str, ca: Path | None, who: str) -> None:
        cli = _base()
        ws = cli._open(db, identity_path)
        actor = resolve(_roster(relay, ws, ca), who, "members")
        cli._emit(cli._run(cli._client(relay, ws, ca).request("remove_member", {"actor": actor})))

    @_command("readmit", "Let a removed member back in: they sync again and their new changes are accepted.")
    @click.argument("who")
    def members_readmit(db: Path, identity_path: Path, relay: str, ca: Path | None, who: str) -> None:
        _readmit(db, identity_path, relay, ca, who)


def _readmit(db: Path, identity_path: Path, relay: str, ca: Path | None, who: str) -> None:
    cli = _base()
    ws = cli._open(db, identity_path)
    actor = resolve(_roster(relay, ws, ca), who, "removed")
    cli._emit(cli._run(cli._client(relay, ws, ca).request("readmit_member", {"actor": actor})))


def _decide(db: Path, identity_path: Path, relay: str, ca: Path | None, who: str, approve: bool) -> None:
    cli = _base()
    ws = cli._open(db, identity_path)
    actor = resolve(_roster(relay, ws, ca), who, "pending")
    cli._emit(cli._run(cli._client(relay, ws, ca).request("decide_request", {"actor": actor, "approve": approve})))


_setup()
