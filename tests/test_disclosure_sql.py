"""The disclosure seam answers as SQL exactly as it answers in Python.

For every demo principal and every field of the row-scoped record types, the SQL predicate
`readable_sql` holds on exactly the rows whose Python decision (`Disclosure.fields` under the
row scopes the row falls under) includes the field, and `where` selects exactly the rows the
plan lets through.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import literal, select

from sharegraph.authz.authenticate import authenticate
from sharegraph.authz.disclosure import Disclosure
from sharegraph.authz.plan import MODEL_TYPES, Action
from sharegraph.authz.store import PolicyStore
from sharegraph.datastore import models as m
from sharegraph.datastore.engine import Database
from sharegraph.settings import Settings

MODELS = [m.ContactRecord, m.Client, m.Referral, m.FollowUp, m.Outcome, m.Service, m.Phone]
PRINCIPALS = [
    "prairie-admin",
    "prairie-call-taker",
    "lakeside-admin",
    "riverbend-api",
    "eastside-portal",
    "harbor-portal",
]


async def _plans(db: Database, keys: dict[str, str]) -> dict[str, Any]:
    store = PolicyStore(db)
    await store.reload()
    plans = {}
    async with db.read_session() as session:
        for name in PRINCIPALS:
            principal = await authenticate(session, f"Bearer {keys[name]}", Settings())
            plans[name] = store.plan_for(principal)
    return plans


@pytest.mark.parametrize("action", [Action.READ, Action.EXPORT])
async def test_sql_masks_agree_with_the_python_seam(
    demo_db: Database, keys: dict[str, str], action: Action
) -> None:
    plans = await _plans(demo_db, keys)
    checked = 0
    for name, plan in plans.items():
        disclosure = Disclosure(plan, action)
        for model in MODELS:
            type_name = MODEL_TYPES[model]
            fields = [f.name for f in _catalogue_fields(type_name)]
            masks = [
                _true_if_none(disclosure.readable_sql(model, f)).label(f"f{i}")
                for i, f in enumerate(fields)
            ]
            async with demo_db.read_session() as session:
                rows = (
                    await session.execute(
                        select(model, *masks).where(disclosure.where(model)).order_by(model.id)
                    )
                ).all()
                scopes = await disclosure.scopes(session, model, [r[0] for r in rows])
                visible = set(
                    (await session.scalars(select(model.id).where(disclosure.where(model)))).all()
                )
            assert {r[0].id for r in rows} == visible
            for row, *flags in rows:
                python = disclosure.fields(type_name, row.tenant_id, scopes.get(row.id))
                sql = {f for f, hit in zip(fields, flags, strict=True) if hit}
                assert sql == python & set(fields), (name, type_name, row.id)
                checked += 1
    assert checked > 100


def _catalogue_fields(type_name: str) -> list[Any]:
    from sharegraph.authz.catalogue import CATALOGUE, Storage

    return [f for f in CATALOGUE[type_name].fields if f.storage is not Storage.IDENTITY]


def _true_if_none(predicate: Any) -> Any:
    return literal(True) if predicate is None else predicate
