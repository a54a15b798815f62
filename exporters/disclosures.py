"""Every export is a disclosure: which owner's records of which type went to whom, why, with
which fields. Gathered while the file is written, recorded in the audit table before the file
is handed over (``datastore.audit.record``, one transaction).

Contact records are recorded by id (16 bytes each while the export runs, so 100,000 records
cost 1.6 MB), in rows of at most :data:`IDS_PER_ROW` ids; directory records by count.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sharegraph.datastore.audit import DISCLOSURE, record
from sharegraph.datastore.engine import Database

IDS_PER_ROW = 5000


@dataclass
class _Bucket:
    ids: bytearray = field(default_factory=bytearray)
    count: int = 0
    coordinates: set[str] = field(default_factory=set)


@dataclass
class DisclosureLog:
    recipient: str  # "tenant:<id>" or "partner:<id>": the organization receiving the file
    principal_id: uuid.UUID | None  # who asked (None: the owner's own export from the CLI)
    purpose: str | None
    detail: dict[str, Any]  # what, format, channel...
    export_id: uuid.UUID = field(default_factory=uuid.uuid4)
    _buckets: dict[tuple[uuid.UUID, str], _Bucket] = field(default_factory=dict)

    def _bucket(self, owner: uuid.UUID, record_type: str) -> _Bucket:
        bucket = self._buckets.get((owner, record_type))
        if bucket is None:
            bucket = self._buckets[(owner, record_type)] = _Bucket()
        return bucket

    def record(
        self, owner: uuid.UUID, record_type: str, record_id: uuid.UUID, coordinates: Iterable[str]
    ) -> None:
        """One record left, with these fields (recorded by id)."""
        bucket = self._bucket(owner, record_type)
        bucket.ids += record_id.bytes
        bucket.count += 1
        bucket.coordinates.update(coordinates)

    def count(
        self, owner: uuid.UUID, record_type: str, coordinates: Iterable[str], n: int = 1
    ) -> None:
        """``n`` records left, with these fields (recorded by count)."""
        bucket = self._bucket(owner, record_type)
        bucket.count += n
        bucket.coordinates.update(coordinates)

    def totals(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for (_owner, record_type), bucket in self._buckets.items():
            found[record_type] = found.get(record_type, 0) + bucket.count
        return found

    async def write(self, db: Database) -> int:
        """Record the disclosures; how many audit rows were written."""
        written = 0
        async with db.write_session() as session:
            for (owner, record_type), bucket in sorted(
                self._buckets.items(), key=lambda item: (str(item[0][0]), item[0][1])
            ):
                if bucket.count == 0:
                    continue
                chunks: list[bytearray | None] = [
                    bucket.ids[i : i + IDS_PER_ROW * 16]
                    for i in range(0, len(bucket.ids), IDS_PER_ROW * 16)
                ] or [None]
                for index, chunk in enumerate(chunks):
                    ids = (
                        None
                        if chunk is None
                        else [
                            str(uuid.UUID(bytes=bytes(chunk[i : i + 16])))
                            for i in range(0, len(chunk), 16)
                        ]
                    )
                    await record(
                        session,
                        tenant_id=owner,
                        principal_id=self.principal_id,
                        action=DISCLOSURE,
                        purpose=self.purpose,
                        record_type=record_type,
                        record_ids=ids,
                        coordinates=sorted(bucket.coordinates),
                        detail={
                            **self.detail,
                            "recipient": self.recipient,
                            "exportId": str(self.export_id),
                            "count": bucket.count,
                            "part": index + 1,
                            "parts": len(chunks),
                        },
                    )
                    written += 1
        return written
