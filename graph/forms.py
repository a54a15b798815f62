"""Naming a contact form in arguments: forms have no object of their own in the API."""

from __future__ import annotations

import uuid

from sharegraph.datastore import models as m
from sharegraph.errors import BadUserInput, NotFound
from sharegraph.graph.context import Info
from sharegraph.graph.relay import from_global_id


async def form_id_from(info: Info, value: str) -> uuid.UUID:
    """A form's UUID from the UUID itself (as in the row scope ``shared_form:<form id>``), or
    from the global id of one of its versions (``ContactRecord.formVersion.id``)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        pass
    try:
        _, version_id = from_global_id(value, expected="ContactFormVersion")
    except BadUserInput as exc:
        raise BadUserInput(
            "formId must be a form's UUID or the id of one of its versions", reason="BAD_ID"
        ) from exc
    version = await info.context.loaders.one(m.ContactFormVersion, version_id)
    if version is None:
        raise NotFound("no such contact form")
    return version.form_id  # type: ignore[no-any-return]
