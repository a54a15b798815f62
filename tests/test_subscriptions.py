"""Live updates: GraphQL subscriptions over graphql-transport-ws, under the same sharing rules
as queries, on both backends."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from sharegraph.datastore.engine import Database
from sharegraph.datastore.models import ContactRecord
from sharegraph.demo import demo_id
from sharegraph.graph.relay import to_global_id

from .live_client import served

PRAIRIE = demo_id("tenant", "prairie")

UPDATE_RECORD = """
mutation($input: UpdateContactRecordInput!) {
  updateContactRecord(input: $input) { contactRecord { id version } }
}
"""
RECORDS = """
subscription {
  contactRecordChanged { event { type recordVersion occurredAt position } contactRecord { id narrative } }
}
"""


async def _prairie_record(db: Database) -> tuple[uuid.UUID, int]:
    async with db.read_session() as session:
        row = (
            await session.execute(
                select(ContactRecord.id, ContactRecord.version)
                .where(ContactRecord.tenant_id == PRAIRIE)
                .order_by(ContactRecord.id)
                .limit(1)
            )
        ).one()
    return row[0], row[1]


async def _touch_record(api: Any, db: Database, narrative: str) -> str:
    record_id, version = await _prairie_record(db)
    global_id = to_global_id("ContactRecord", record_id)
    await api.data(
        "prairie-admin",
        UPDATE_RECORD,
        {"input": {"id": global_id, "version": version, "narrative": narrative}},
    )
    return global_id


async def test_a_mutation_reaches_a_subscriber(seeded_db: Database, keys: dict[str, str]) -> None:
    async with served(seeded_db, keys) as live, live.client() as client:
        await client.init("prairie-admin")
        await client.subscribe("1", RECORDS)
        await client.nothing_within(0.3)
        global_id = await _touch_record(live.api, seeded_db, "called back")
        message = await client.receive()
        assert message["type"] == "next", message
        payload = message["payload"]["data"]["contactRecordChanged"]
        assert payload["contactRecord"] == {"id": global_id, "narrative": "called back"}
        assert payload["event"]["type"] == "UPDATED"
        assert int(payload["event"]["position"]) > 0
