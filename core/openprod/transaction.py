"""Local writes: a Transaction gathers validated ops that commit as one signed bundle.

Each write is checked against the schema and the current state, then applied at once inside
the open SQLite transaction, so later writes in the same transaction see earlier ones and a
failure rolls everything back. Public ids are canonical UUID strings. The writes live by what
they change: records, fields and tables (`tx_records`, with the plumbing), collaborative text and
lists (`tx_crdt`), edges (`tx_edges`),
the workspace's shape (`tx_schema`), and merges, splits, conflicts and rules (`tx_repair`).
"""

from __future__ import annotations

from .ids import IdLike
from .tx_crdt import CrdtWrites
from .tx_edges import EdgeWrites
from .tx_repair import RepairWrites
from .tx_schema import SchemaWrites

__all__ = ["Transaction"]


class Transaction(CrdtWrites, EdgeWrites, SchemaWrites, RepairWrites):
    """Use through `Workspace.transaction()`, or `Workspace.begin()` and the steps after it (`commit`)."""

    def set_calling_position(self, cue_list: IdLike, cue: IdLike | None) -> None:
        """GO: `cue` was just called in `cue_list` (None: back to the top). A shared pointer, never a
        cue edit (calling.py); open the transaction with `staging=False` so it is never staged.
        Raises NotFoundError (the list is gone) or ValidationError (the cue is not in it)."""
        from .calling import set_position

        set_position(self, self.ws, cue_list, cue)
