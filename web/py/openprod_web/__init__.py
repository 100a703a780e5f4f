"""The Python half of the browser worker: one open workspace, its durable-log queue and a JSON API.

The JavaScript worker owns all I/O (IndexedDB, locks, messages); this package owns the core.
Every stored bundle is queued here with a log sequence number at the moment it is stored; the
worker takes the queue, appends it to IndexedDB and only then reports the edit saved.
"""

from .session import METHODS, Session, coerce_input, new_identity, rename_identity

__all__ = ["METHODS", "Session", "coerce_input", "new_identity", "rename_identity"]
