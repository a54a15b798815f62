"""Relay conventions: global ids, opaque keyset cursors, connections."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import strawberry

from sharegraph.errors import BadUserInput, quote

T = TypeVar("T")


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def to_global_id(type_name: str, row_id: uuid.UUID | str) -> str:
    """``row_id``: a UUID or its canonical text."""
    return _b64encode(f"{type_name}:{row_id}".encode())


def from_global_id(
    global_id: str, *, expected: str | tuple[str, ...] | None = None
) -> tuple[str, uuid.UUID]:
    """(type name, uuid) of a global id; ``BAD_USER_INPUT`` if it is not one (of that type)."""
    try:
        type_name, _, raw = _b64decode(global_id).decode("utf-8").partition(":")
        row_id = uuid.UUID(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadUserInput(f"{quote(global_id)} is not a valid id", reason="BAD_ID") from exc
    allowed = (expected,) if isinstance(expected, str) else expected
    if allowed is not None and type_name not in allowed:
        raise BadUserInput(
            f"{quote(global_id)} is the id of a {quote(type_name)}, "
            f"expected {' or '.join(allowed)}",
            reason="BAD_ID",
        )
    return type_name, row_id


class CursorCodec:
    """Opaque, tamper-evident keyset cursors: (type, sort, row id) signed with the instance secret.

    A cursor carries the row id only, never a row's values: the database reads the sort values
    from the row itself when the next page is asked for.
    """

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"cursor:" + secret.encode()).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.digest(self._key, payload, "sha256")[:12]

    def encode(self, type_name: str, sort: str, row_id: uuid.UUID) -> str:
        payload = f"{type_name}|{sort}|".encode() + row_id.bytes
        return _b64encode(payload + self._mac(payload))

    def decode(self, cursor: str, type_name: str, sort: str) -> uuid.UUID:
        try:
            raw = _b64decode(cursor)
        except (ValueError, binascii.Error) as exc:
            raise BadUserInput(
                "`after` is not a cursor this API issued", reason="BAD_CURSOR"
            ) from exc
        payload, mac = raw[:-12], raw[-12:]
        if len(raw) <= 28 or not hmac.compare_digest(mac, self._mac(payload)):
            raise BadUserInput("`after` is not a cursor this API issued", reason="BAD_CURSOR")
        prefix, row_bytes = payload[:-16], payload[-16:]
        if prefix != f"{type_name}|{sort}|".encode():
            raise BadUserInput(
                "`after` was issued for another list or sort order; use cursors from the same "
                "query and sort",
                reason="BAD_CURSOR",
            )
        return uuid.UUID(bytes=row_bytes)


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(
        description="The object's global id: opaque, stable, for `node(id:)` and typed lookups."
    )


@strawberry.type(description="Where a page lies in its list (Relay).")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="More rows follow: ask again with `after: endCursor`."
    )
    has_previous_page: bool = strawberry.field(
        description="Rows precede this page (true when it was asked for with `after`)."
    )
    start_cursor: str | None = strawberry.field(
        description="The first edge's cursor; null on an empty page."
    )
    end_cursor: str | None = strawberry.field(
        description="The last edge's cursor, to pass as `after` for the next page; null on an "
        "empty page."
    )


@strawberry.type(description="One row of a page, with its cursor (Relay).")
class Edge(Generic[T]):
    cursor: str = strawberry.field(
        description="Opaque; pass it as `after` to resume the same list and sort after this row."
    )
    node: T = strawberry.field(description="The row.")


@strawberry.type(
    description="A page of a list (Relay cursor connection): only rows your sharing "
    "agreements let you see, in the order asked for."
)
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The page's rows, in order.")
    page_info: PageInfo = strawberry.field(description="Whether more rows follow, and cursors.")
    counter: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Rows matching the filter that you may see; ignores paging.")
    async def total_count(self) -> int:
        return await self.counter()
