"""The Python half of the browser worker: one open workspace, its durable-log queue and a JSON API.

The JavaScript worker owns all I/O (IndexedDB, locks, messages, sockets); this package owns the core
and the sync sessions (`SyncHub`, worked in slices between the page's calls).
Every stored bundle is queued here with a log sequence number at the moment it is stored, and
every changed staging overlay is handed over as a journal record; the worker writes both to
IndexedDB and only then reports the edit saved (or staged).
"""

from .fields import coerce_crdt, coerce_input
from .recovery import recovery_request
from .session import METHODS, Session, new_identity, read_backup, rename_identity, use_ed25519, use_lua, use_yjs
from .sync import SyncHub, join_request

__all__ = ["METHODS", "Session", "SyncHub", "coerce_crdt", "coerce_input", "join_request", "new_identity",
           "read_backup", "recovery_request", "rename_identity", "use_ed25519", "use_lua",
           "use_yjs"]
