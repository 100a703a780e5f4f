"""Frames of at most 16 KiB: splitting a large message into chunks, and putting it back together.

WebRTC data channels do not promise to carry messages above 16 KiB between browsers, so every
frame stays at or under `MAX_FRAME`. A message that does not fit (a bundle with a large import,
a vector clock with thousands of actors) is encoded once and cut into `chunk` frames. The
receiver keeps the pieces aside and decodes the message only when every piece is there, so an
incomplete bundle can never reach `ingest`; pieces of a message that never completes are
dropped when the session closes (or when too many messages are half-received at once).

Reassembly holds memory for a peer, so a session decides when it is allowed: an acceptor takes
no pieces at all before it has admitted the peer (`pieces_allowed=False`), which keeps a
stranger who only knows a workspace id from making it buffer anything.
"""

from __future__ import annotations

from collections import OrderedDict

from ..bundle import MAX_BUNDLE_BYTES
from .errors import REASON_MALFORMED, REASON_OVERSIZE, REASON_PROTOCOL, PeerError
from .messages import Chunk, Message, decode_message_v1, encode_message_v1

MAX_FRAME = 16 * 1024
# The largest reassembled message: one maximal bundle plus its batch envelope.
MAX_MESSAGE = MAX_BUNDLE_BYTES + 64 * 1024
CHUNK_OVERHEAD = 64  # map keys, type tag, ids and the byte-string header of a chunk frame
MAX_PARTIAL = 4  # half-received messages kept at once (an ordered transport needs only one)


def split_v1(message: Message, message_id: int, max_frame: int = MAX_FRAME) -> list[bytes]:
    """Encode `message` into frames of at most `max_frame` bytes (one frame when it fits)."""
    data = encode_message_v1(message)
    if len(data) <= max_frame:
        return [data]
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"message of {len(data)} bytes exceeds the {MAX_MESSAGE}-byte limit")
    piece = max_frame - CHUNK_OVERHEAD
    count = -(-len(data) // piece)
    return [encode_message_v1(Chunk(message_id=message_id, index=i, count=count, data=data[i * piece:(i + 1) * piece]))
            for i in range(count)]


class Reassembler:
    """Collects chunk frames; hands back a message only once all of its pieces have arrived."""

    def __init__(self, max_frame: int = MAX_FRAME, max_message: int = MAX_MESSAGE,
                 max_partial: int = MAX_PARTIAL) -> None:
        self.max_frame = max_frame
        self.max_message = max_message
        self.max_partial = max_partial
        self._partial: OrderedDict[int, tuple[int, dict[int, bytes]]] = OrderedDict()

    def receive(self, frame: bytes, *, pieces_allowed: bool = True) -> Message | None:
        """One frame in; the complete message if this frame finished one, else None.

        Raises PeerError: `oversize` for a frame above the limit or a message that would exceed
        `max_message`, `malformed` for bytes that are not a valid message, `protocol` for a
        piece when `pieces_allowed` is false.
        """
        if len(frame) > self.max_frame:
            raise PeerError(REASON_OVERSIZE, f"frame of {len(frame)} bytes is over the {self.max_frame}-byte limit")
        message = decode_message_v1(frame)
        if not isinstance(message, Chunk):
            return message
        if not pieces_allowed:
            raise PeerError(REASON_PROTOCOL, "a message in pieces before the session is open "
                                             "(handshake messages fit in one frame)")
        if message.count * (self.max_frame - CHUNK_OVERHEAD) > self.max_message + self.max_frame:
            raise PeerError(REASON_OVERSIZE, f"chunked message of {message.count} pieces exceeds "
                                             f"the {self.max_message}-byte limit")
        count, pieces = self._partial.get(message.message_id, (message.count, {}))
        if count != message.count:
            raise PeerError(REASON_MALFORMED, f"chunk {message.message_id} changed its piece count")
        pieces.setdefault(message.index, message.data)
        self._partial[message.message_id] = (count, pieces)
        if len(pieces) < count:
            while len(self._partial) > self.max_partial:
                self._partial.popitem(last=False)
            return None
        del self._partial[message.message_id]
        data = b"".join(pieces[i] for i in range(count))
        if len(data) > self.max_message:
            raise PeerError(REASON_OVERSIZE, f"message of {len(data)} bytes exceeds the {self.max_message}-byte limit")
        whole = decode_message_v1(data)
        if isinstance(whole, Chunk):
            raise PeerError(REASON_MALFORMED, "a chunked message must not itself be a chunk")
        return whole

    @property
    def partial(self) -> int:
        """How many messages are half-received (dropped, never applied, if the session ends)."""
        return len(self._partial)

    def clear(self) -> None:
        self._partial.clear()
