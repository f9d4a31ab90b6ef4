"""A response body read within bounds, then decoded to text safely (PRACTICE.md §4, issue 11).

The cap (``DeliveryConfig.max_response_bytes``) bounds **what is kept after decompression** and
**what is read from the socket**, whatever the endpoint sends:

- every engine reads the *raw* stream (httpx's ``iter_raw``/``aiter_raw``, so httpx decompresses
  nothing behind the cap's back) and feeds it, chunk by chunk, to one :class:`BodyReader`;
- each ``Content-Encoding`` layer (``gzip``, ``deflate``, layered ``gzip, gzip``; at most
  :data:`MAX_LAYERS`) is undone incrementally with ``zlib`` ``max_length`` bounds, so a few KB
  that inflate to gigabytes produce at most ``cap + 1`` bytes before reading stops;
- at most ``cap +`` :data:`RAW_SLACK` bytes are read from the socket (a compressed stream that
  never produces output ends there too);
- an encoding that cannot be undone safely here (``br``, ``zstd``, anything unknown, too many
  layers) is not decoded: the capped raw bytes are kept and the note says so.

Peak memory per send is therefore about ``cap`` plus a few zlib windows (32 KiB each) and one
64 KiB socket chunk. :func:`decode_text` then turns the kept bytes into text: only a real text
codec named by ``charset=`` decodes (``bz2``, ``base64``, ``rot13``, ``undefined`` … do not); any
other charset, or one that fails, falls back to UTF-8 with replacement characters, with a note.
"""

from __future__ import annotations

import codecs
import functools
import zlib
from typing import Protocol

__all__ = ["MAX_LAYERS", "RAW_SLACK", "BodyReader", "decode_text"]

#: Bytes read from the socket beyond the cap before reading stops in any case.
RAW_SLACK = 65_536
#: Content-Encoding layers decoded at most; a response with more is kept as received.
MAX_LAYERS = 4
#: Output pulled from an inner layer at a time (bounds the memory of layered decoding).
_BLOCK = 16_384
#: Charsets that are text codecs by ``codecs`` but cannot decode a response body.
_NOT_CHARSETS = {"undefined", "idna", "punycode"}


class _Layer(Protocol):
    name: str

    def decompress(self, data: bytes, limit: int) -> bytes: ...

    @property
    def unconsumed_tail(self) -> bytes: ...

    @property
    def eof(self) -> bool: ...


class _Gzip:
    __slots__ = ("_z", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._z = zlib.decompressobj(zlib.MAX_WBITS | 16)

    def decompress(self, data: bytes, limit: int) -> bytes:
        return self._z.decompress(data, limit)

    @property
    def unconsumed_tail(self) -> bytes:
        return self._z.unconsumed_tail

    @property
    def eof(self) -> bool:
        return self._z.eof


class _Deflate:
    """``deflate`` as sent in practice: zlib-wrapped (RFC 9110), or raw deflate (old servers)."""

    __slots__ = ("_first", "_z", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._z = zlib.decompressobj()
        self._first = True

    def decompress(self, data: bytes, limit: int) -> bytes:
        first, self._first = self._first, False
        try:
            return self._z.decompress(data, limit)
        except zlib.error:
            if not first:
                raise
            self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._z.decompress(data, limit)

    @property
    def unconsumed_tail(self) -> bytes:
        return self._z.unconsumed_tail

    @property
    def eof(self) -> bool:
        return self._z.eof


_DECODERS: dict[str, type[_Gzip] | type[_Deflate]] = {"gzip": _Gzip, "x-gzip": _Gzip, "deflate": _Deflate}


def _layers(content_encoding: str) -> tuple[list[_Layer], str]:
    """The decoders for a Content-Encoding value, outermost first, or none and why not."""
    names = [n.strip().lower() for n in content_encoding.split(",")]
    names = [n for n in names if n and n != "identity"]
    if not names:
        return [], ""
    shown = content_encoding if len(content_encoding) <= 60 else content_encoding[:60] + "…"
    if len(names) > MAX_LAYERS:
        return [], (
            f"response body kept as received, not decoded: Content-Encoding {shown!r} has "
            f"{len(names)} layers (at most {MAX_LAYERS} are decoded)"
        )
    unknown = sorted({n for n in names if n not in _DECODERS})
    if unknown:
        return [], (
            f"response body kept as received, not decoded: Content-Encoding {', '.join(unknown)} "
            "is not decoded by simlib (gzip and deflate are)"
        )
    return [_DECODERS[n](n) for n in reversed(names)], ""


class BodyReader:
    """Feed it the raw chunks of one response; it keeps at most ``cap`` decoded bytes.

    ``feed`` answers True once reading should stop (the cap, the raw cap or an undecodable
    stream was reached); then ``body`` holds the kept bytes, ``truncated`` says whether the body
    went on, and ``note`` says what was not decoded (empty when all was well).
    """

    __slots__ = ("_chunks", "_layers", "_size", "cap", "done", "note", "raw_cap", "raw_size", "truncated")

    def __init__(self, cap: int, content_encoding: str | None = None) -> None:
        self.cap = cap
        self.raw_cap = cap + RAW_SLACK
        self.raw_size = 0
        self.truncated = False
        self.done = False
        self.note = ""
        self._chunks: list[bytes] = []
        self._size = 0
        self._layers: list[_Layer] = []
        if content_encoding:
            self._layers, self.note = _layers(content_encoding)

    def feed(self, chunk: bytes) -> bool:
        """Take the next raw chunk; True when no more should be read."""
        self.raw_size += len(chunk)
        if self._layers:
            self._decode(0, chunk)
        else:
            self._keep(chunk)
        if self.raw_size > self.raw_cap and not self.done:
            # Compressed input that hardly produces output (e.g. endless empty deflate blocks).
            self.truncated = self.done = True
            self.note = f"reading stopped after {self.raw_size} bytes from the network, which had decoded to {self._size} bytes"
        return self.done

    def _keep(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        if self._size > self.cap:
            self.truncated = self.done = True

    def _decode(self, i: int, data: bytes) -> None:
        layer = self._layers[i]
        last = i == len(self._layers) - 1
        try:
            while not self.done:
                limit = self.cap + 1 - self._size if last else _BLOCK
                out = layer.decompress(data, limit)
                data = layer.unconsumed_tail
                if out:
                    if last:
                        self._keep(out)
                    else:
                        self._decode(i + 1, out)
                if not data and len(out) < limit:
                    return  # this input is used up and the layer holds no more output
        except zlib.error as exc:
            if not self.done:
                self.done = True
                self.note = f"response body could not be decoded ({layer.name}) after {self._size} bytes: {exc}"

    def finish(self) -> None:
        """The response has ended (not cut by the reader): note a compressed stream left
        incomplete, which zlib does not report by itself."""
        if not self.done and any(not layer.eof for layer in self._layers):
            self.note = f"response body ended before its {self._layers[0].name} data was complete (after {self._size} bytes)"

    @property
    def body(self) -> bytes:
        data = b"".join(self._chunks)
        return data[: self.cap] if self._size > self.cap else data


def decode_text(data: bytes, content_type: str | None, *, truncated: bool = False) -> tuple[str, str]:
    """Text of a response body and a note (empty when none is needed): the ``charset`` of
    ``content_type`` if it is a text codec that decodes these bytes, else UTF-8; bad bytes are
    replaced; a binary body is summarised."""
    if not data:
        return "", ""
    charset, note = "utf-8", ""
    declared = _charset(content_type)
    if declared is not None:
        charset, note = _text_codec(declared)
    if b"\x00" in data[:1024] or _mostly_binary(data[:1024]):
        kind = (content_type or "unknown type").split(";")[0][:100]
        more = "+" if truncated else ""
        return f"<binary response: {len(data)}{more} bytes of {kind}; starts {data[:16].hex(' ')}>", ""
    try:
        if charset == "utf-8" and not truncated:  # the common case: the one-shot decode, the same text
            return data.decode("utf-8", "replace"), note
        return codecs.getincrementaldecoder(charset)(errors="replace").decode(data, final=not truncated), note
    except Exception as exc:  # noqa: BLE001 - a codec that fails on these bytes: UTF-8 instead
        text = codecs.getincrementaldecoder("utf-8")(errors="replace").decode(data, final=not truncated)
        return text, f"charset {declared!r} could not decode the body ({type(exc).__name__}): decoded as UTF-8"


def _charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value.strip().strip('"'):
            return value.strip().strip('"')
    return None


@functools.lru_cache(maxsize=128)
def _text_codec(name: str) -> tuple[str, str]:
    """``name`` if it is a codec that turns bytes into text, else UTF-8 and why."""
    shown = name if len(name) <= 40 else name[:40] + "…"
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return "utf-8", f"unknown charset {shown!r}: decoded as UTF-8"
    # A text codec decodes bytes to str; bz2, base64, hex ... give bytes, rot13 refuses bytes,
    # 'undefined' refuses everything. Probing with no bytes at all is harmless.
    try:
        text = isinstance(info.decode(b"")[0], str)
    except Exception:  # noqa: BLE001 - any failure: not a codec for a response body
        text = False
    if not text or info.name in _NOT_CHARSETS:
        return "utf-8", f"charset {shown!r} is not a text encoding: decoded as UTF-8"
    return info.name, ""


def _mostly_binary(sample: bytes) -> bool:
    if not sample:
        return False
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))  # counted in C
    return controls / len(sample) > 0.1


#: The control bytes that make a body look binary (all below 32 but tab, LF and CR).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 13))
