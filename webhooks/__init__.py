"""Signed webhooks from the outbox (Standard Webhooks): endpoints, fan-out, delivery, SSRF guard.

Two kinds of due work run in the scheduler (``serve`` and ``sharegraph worker``):
``webhook-fanout`` turns outbox events into messages (:mod:`.fanout`) and ``webhook-delivery``
sends them (:mod:`.delivery`). Both run on every poll and as soon as new events commit (the
scheduler's wake-up for ``on_events`` kinds), so a change reaches its receivers within
milliseconds; the poll is the backstop. The payload of a message is rendered by the layer
that knows the schema (``graph/webhook_payloads.py``), handed in as a :data:`.render.Render`.
"""

from __future__ import annotations

from sharegraph.datastore.secrets import SecretBox
from sharegraph.datastore.work import DueWork, Job
from sharegraph.settings import Settings
from sharegraph.webhooks.delivery import Sender
from sharegraph.webhooks.fanout import fan_out
from sharegraph.webhooks.render import Render

FANOUT = "webhook-fanout"
DELIVERY = "webhook-delivery"


def webhook_kinds(settings: Settings, render: Render) -> list[DueWork]:
    sender = Sender(settings.webhooks, SecretBox(settings.exchange.secret_key))

    async def fanout(job: Job) -> None:
        await fan_out(job, render)

    return [
        DueWork(FANOUT, fanout, on_events=True),
        DueWork(DELIVERY, sender.run, on_events=True, close=sender.close),
    ]
