"""The provider portal (``/portal``): partner staff's referrals, capacity, queue entries and
follow-ups, every one read and changed through the public GraphQL schema as the person signed
in (:mod:`.graph_client`)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sharegraph.console.answers import answer_status, submit, to_signin, viewer_of
from sharegraph.console.graph_client import Problem, run
from sharegraph.console.readable import Prune, pruned, readable
from sharegraph.console.render import WITHHELD, page
from sharegraph.console.words import ACTIONS, OUTCOME_WORDS, STATUS_WORDS

INBOX_SIZE = 50
INBOX_STATUSES = [
    (s, STATUS_WORDS[s])
    for s in (
        "REQUESTED",
        "ACCEPTED",
        "IN_PROGRESS",
        "ON_HOLD",
        "COMPLETED",
        "REJECTED",
        "FAILED",
        "CANCELLED",
    )
]
CLIENT_FIELDS = [
    ("firstName", "First name"),
    ("lastName", "Last name"),
    ("phone", "Phone"),
    ("dateOfBirth", "Date of birth"),
    ("postalCode", "Postal code"),
    ("county", "County"),
    ("preferredLanguage", "Preferred language"),
]
INTAKE_FIELDS = [
    ("startedAt", "Contact started"),
    ("channel", "Channel"),
    ("callerPostalCode", "Caller's postal code"),
    ("callerCounty", "Caller's county"),
    ("riskLevel", "Risk level"),
    ("needs", "Needs"),
    ("narrative", "Narrative"),
]
# Fields of the referral page left out of its document when the person may never read them.
REFERRAL_PRUNE: Prune = {
    ("referral", "contactRecord", "client"): ("Client", frozenset(k for k, _ in CLIENT_FIELDS)),
    ("referral", "contactRecord"): (
        "ContactRecord",
        frozenset([*(k for k, _ in INTAKE_FIELDS), "answers"]),
    ),
    ("referral", "notes"): ("ReferralNote", frozenset(["body"])),
}
INBOX_PRUNE: Prune = {
    ("referrals", "edges", "node", "contactRecord", "client"): ("Client", frozenset(["firstName"]))
}
DONE_WORDS = {
    "status": "The referral's status is changed.",
    "outcome": "The outcome is recorded.",
    "external-id": "Your case number is saved.",
    "note": "The case note is added.",
    "capacity": "Capacity is reported.",
    "scheduled": "The change is scheduled.",
}


def _fields(
    node: dict[str, Any] | None,
    keys: list[tuple[str, str]],
    at: tuple[str | int, ...],
    withheld: set[tuple[str | int, ...]],
    never: frozenset[str] | set[str] = frozenset(),
) -> dict[str, Any]:
    """Each field's value, or WITHHELD where the plan withheld it on this row or never grants
    it (then it was not even asked for)."""
    out: dict[str, Any] = {}
    for key, _label in keys:
        if key in never or (*at, key) in withheld or at in withheld:
            out[key] = WITHHELD
        else:
            value = (node or {}).get(key)
            if key == "needs" and isinstance(value, list):
                value = ", ".join(str(n.get("name")) for n in value if n.get("name"))
            if key == "startedAt" and value:
                value = str(value).replace("T", " ")[:16]
            out[key] = value
    return out


def portal_router() -> APIRouter:
    router = APIRouter()

    @router.get("/portal")
    async def inbox(
        request: Request, status: str | None = None, after: str | None = None
    ) -> Response:
        status = status if status in STATUS_WORDS else None
        variables: dict[str, Any] = {
            "first": INBOX_SIZE,
            "after": after or None,
            "status": [status] if status else None,
        }
        allowed = await readable(request)
        source = None if allowed is None else pruned("inbox", INBOX_PRUNE, allowed)
        never_client = allowed is not None and ("Client", "firstName") not in allowed
        result = await run(request, "inbox", variables, source)
        if result.unauthenticated:
            return to_signin(request)
        rows = []
        withheld = result.withheld()
        found = (result.data or {}).get("referrals") or {}
        for index, edge in enumerate(found.get("edges") or []):
            referral = edge.get("node") or {}
            at = ("referrals", "edges", index, "node")
            client: Any = ((referral.get("contactRecord") or {}).get("client") or {}).get(
                "firstName"
            )
            record, person = (*at, "contactRecord"), (*at, "contactRecord", "client")
            if never_client or {at, record, person, (*person, "firstName")} & withheld:
                client = WITHHELD
            rows.append(
                {
                    "id": referral["id"],
                    "status": referral.get("status"),
                    "created": referral.get("createdAt"),
                    "program": (referral.get("program") or referral.get("service") or {}).get(
                        "name"
                    ),
                    "client": client,
                    "external_id": referral.get("externalId"),
                }
            )
        # The server pages newest first; on each page the new ones come first.
        rows.sort(key=lambda r: r["status"] != "REQUESTED")
        page_info = found.get("pageInfo") or {}
        older = None
        if page_info.get("hasNextPage") and page_info.get("endCursor"):
            older = "/portal?" + urlencode(
                {k: v for k, v in (("status", status), ("after", page_info["endCursor"])) if v}
            )
        return page(
            request,
            "inbox.html",
            title="Referrals",
            viewer=viewer_of(result),
            problems=result.failures(),
            rows=rows,
            older=older,
            first_page="/portal" + (f"?status={status}" if status else "") if after else None,
            status=status or "",
            statuses=INBOX_STATUSES,
        )

    async def referral_page(
        request: Request,
        referral_id: str,
        problems: list[Problem] | None = None,
        status_code: int = 200,
    ) -> Response:
        allowed = await readable(request)
        never: set[tuple[str, str]] = set()
        source = None
        if allowed is not None:
            source = pruned("referral", REFERRAL_PRUNE, allowed)
            never = {(t, f) for t, fields in REFERRAL_PRUNE.values() for f in fields} - allowed
        result = await run(request, "referral", {"id": referral_id}, source)
        if result.unauthenticated:
            return to_signin(request)
        referral = (result.data or {}).get("referral")
        shown_problems = list(problems or []) + result.failures()
        if referral is None and not shown_problems:
            shown_problems.append(
                Problem("no referral with this id is shared with you", "NOT_FOUND")
            )
            status_code = 404
        elif status_code == 200 and result.failures():
            status_code = answer_status(result)  # the API's own answer (NOT_FOUND: 404)
        withheld = result.withheld()
        record = (referral or {}).get("contactRecord")
        base = ("referral", "contactRecord")
        answers: Any = (record or {}).get("answers")
        if (
            (*base, "answers") in withheld
            or base in withheld
            or ("ContactRecord", "answers") in never
        ):
            answers = WITHHELD
        if referral is not None:
            notes_at = ("referral", "notes")
            if notes_at in withheld:
                referral["notes"] = WITHHELD
            notes = referral.get("notes")
            for index, note in enumerate(notes if isinstance(notes, list) else []):
                if (*notes_at, index, "body") in withheld or ("ReferralNote", "body") in never:
                    note["body"] = WITHHELD
        fields = {
            "client": _fields(
                (record or {}).get("client"),
                CLIENT_FIELDS,
                (*base, "client"),
                withheld,
                {f for t, f in never if t == "Client"},
            ),
            "intake": _fields(
                record, INTAKE_FIELDS, base, withheld, {f for t, f in never if t == "ContactRecord"}
            ),
            "answers": answers,
        }
        return page(
            request,
            "referral.html",
            title="Referral",
            viewer=viewer_of(result),
            problems=shown_problems,
            status_code=status_code,
            referral=referral,
            record=record,
            fields=fields,
            client_fields=CLIENT_FIELDS,
            intake_fields=INTAKE_FIELDS,
            actions=ACTIONS.get((referral or {}).get("status") or "", []),
            outcome_codes=list(OUTCOME_WORDS.items()),
            today=date.today().isoformat(),
            notice=result.redisclosure_notice,
            flash=DONE_WORDS.get(request.query_params.get("done") or ""),
        )

    @router.get("/portal/referrals/{referral_id}")
    async def referral(request: Request, referral_id: str) -> Response:
        return await referral_page(request, referral_id)

    def _key() -> str:
        return uuid.uuid4().hex

    @router.post("/portal/referrals/{referral_id}/status")
    async def referral_status(request: Request, referral_id: str) -> Response:
        def build(form: dict[str, str]) -> dict[str, Any]:
            return {
                "input": {
                    "id": referral_id,
                    "version": int(form["version"]),
                    "status": form["status"],
                    "reason": form.get("reason") or None,
                    "idempotencyKey": _key(),
                }
            }

        async def again(problems: list[Problem], code: int) -> Response:
            return await referral_page(request, referral_id, problems, code)

        back = f"/portal/referrals/{referral_id}"
        return await submit(request, "referral_status", build, f"{back}?done=status", again)

    @router.post("/portal/referrals/{referral_id}/outcome")
    async def referral_outcome(request: Request, referral_id: str) -> Response:
        def build(form: dict[str, str]) -> dict[str, Any]:
            return {
                "input": {
                    "referralId": referral_id,
                    "code": form["code"],
                    "outcomeDate": form["outcome_date"],
                    "note": form.get("note") or None,
                    "idempotencyKey": _key(),
                }
            }

        async def again(problems: list[Problem], code: int) -> Response:
            return await referral_page(request, referral_id, problems, code)

        back = f"/portal/referrals/{referral_id}"
        return await submit(request, "referral_outcome", build, f"{back}?done=outcome", again)

    @router.post("/portal/referrals/{referral_id}/note")
    async def referral_note(request: Request, referral_id: str) -> Response:
        def build(form: dict[str, str]) -> dict[str, Any]:
            body = form["body"].strip()
            if not body:
                raise KeyError("body")
            return {"input": {"referralId": referral_id, "body": body, "idempotencyKey": _key()}}

        async def again(problems: list[Problem], code: int) -> Response:
            return await referral_page(request, referral_id, problems, code)

        back = f"/portal/referrals/{referral_id}"
        return await submit(request, "referral_note", build, f"{back}?done=note", again)

    @router.post("/portal/referrals/{referral_id}/external-id")
    async def referral_external_id(request: Request, referral_id: str) -> Response:
        def build(form: dict[str, str]) -> dict[str, Any]:
            return {
                "input": {
                    "id": referral_id,
                    "version": int(form["version"]),
                    "externalId": form.get("external_id") or None,
                    "idempotencyKey": _key(),
                }
            }

        async def again(problems: list[Problem], code: int) -> Response:
            return await referral_page(request, referral_id, problems, code)

        back = f"/portal/referrals/{referral_id}"
        return await submit(
            request, "referral_external_id", build, f"{back}?done=external-id", again
        )

    async def capacity_page(
        request: Request, problems: list[Problem] | None = None, status_code: int = 200
    ) -> Response:
        who = await run(request, "whoami")
        if who.unauthenticated:
            return to_signin(request)
        viewer = viewer_of(who) or {}
        home = (viewer.get("partnerOrganization") or {}).get("name")
        result = await run(request, "capacity", {"organization": home or ""})
        programs: list[dict[str, Any]] = []
        for edge in ((result.data or {}).get("organizations") or {}).get("edges") or []:
            node = edge.get("node") or {}
            # Until the graph links a directory organization to its partner organization, the
            # portal shows the programs of the organization named like the person's own.
            if home is not None and node.get("name") != home:
                continue
            programs.extend(p for p in node.get("programs") or [] if p.get("capacities"))
        return page(
            request,
            "capacity.html",
            title="Capacity",
            viewer=viewer or None,
            problems=list(problems or []) + who.failures() + result.failures(),
            status_code=status_code,
            programs=programs,
            flash=DONE_WORDS.get(request.query_params.get("done") or ""),
        )

    @router.get("/portal/capacity")
    async def capacity(request: Request) -> Response:
        return await capacity_page(request)

    @router.post("/portal/capacity/{capacity_id}")
    async def capacity_update(request: Request, capacity_id: str) -> Response:
        def build(form: dict[str, str]) -> dict[str, Any]:
            return {
                "input": {
                    "id": capacity_id,
                    "version": int(form["version"]),
                    "available": int(form["available"]),
                    "maximum": int(form["maximum"]),
                    "note": form.get("note") or None,
                    "idempotencyKey": _key(),
                }
            }

        async def again(problems: list[Problem], code: int) -> Response:
            return await capacity_page(request, problems, code)

        return await submit(
            request, "capacity_update", build, "/portal/capacity?done=capacity", again
        )

    @router.post("/portal/capacity/{capacity_id}/schedule")
    async def capacity_schedule(request: Request, capacity_id: str) -> Response:
        def build(form: dict[str, str]) -> dict[str, Any]:
            local_time = form["local_time"]
            return {
                "input": {
                    "capacityId": capacity_id,
                    "localDate": form["local_date"],
                    "localTime": local_time if local_time.count(":") == 2 else local_time + ":00",
                    "available": int(form["available"]),
                    "idempotencyKey": _key(),
                }
            }

        async def again(problems: list[Problem], code: int) -> Response:
            return await capacity_page(request, problems, code)

        return await submit(
            request, "capacity_schedule", build, "/portal/capacity?done=scheduled", again
        )

    @router.get("/portal/queue")
    async def queue(request: Request) -> Response:
        result = await run(request, "queue")
        if result.unauthenticated:
            return to_signin(request)
        queues = []
        withheld = result.withheld()
        for q_index, edge in enumerate(
            ((result.data or {}).get("referralQueues") or {}).get("edges") or []
        ):
            node = edge.get("node") or {}
            entries = []
            for e_index, entry in enumerate((node.get("entries") or {}).get("edges") or []):
                found = dict(entry.get("node") or {})
                if not found.get("assignedProgram"):
                    continue
                at = (
                    "referralQueues", "edges", q_index, "node", "entries", "edges", e_index,
                    "node", "client",
                )  # fmt: skip
                client: Any = (found.get("client") or {}).get("firstName")
                if at in withheld or (*at, "firstName") in withheld:
                    client = WITHHELD
                found["client"] = client
                entries.append(found)
            queues.append({"name": node.get("name"), "entries": entries})
        return page(
            request,
            "queue.html",
            title="Queue",
            viewer=viewer_of(result),
            problems=result.failures(),
            queues=queues,
        )

    @router.get("/portal/follow-ups")
    async def follow_ups(request: Request) -> Response:
        result = await run(request, "follow_ups")
        if result.unauthenticated:
            return to_signin(request)
        edges = ((result.data or {}).get("followUps") or {}).get("edges") or []
        return page(
            request,
            "follow_ups.html",
            title="Follow-ups",
            viewer=viewer_of(result),
            problems=result.failures(),
            follow_ups=[e["node"] for e in edges if e.get("node")],
        )

    return router
