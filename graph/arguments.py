"""The arguments many fields share, described once: paging, filters, sorts, mutation inputs."""

from __future__ import annotations

from typing import Annotated

import strawberry

from sharegraph.settings import Limits

First = Annotated[
    int | None,
    strawberry.argument(
        description="How many rows to return, 0 to the page-size limit "
        f"(SHAREGRAPH_MAX_PAGE_SIZE, {Limits.max_page_size} unless the operator changed it); "
        f"left out: {Limits.default_page_size} (SHAREGRAPH_DEFAULT_PAGE_SIZE)."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(
        description="Return the rows after this cursor (`pageInfo.endCursor` or an edge's "
        "`cursor` from the same list, filter and sort; others are `BAD_USER_INPUT` / "
        "`BAD_CURSOR`); left out: from the first row."
    ),
]
FILTER = strawberry.argument(
    description="Conditions every row returned must meet; left out: every row you may see."
)
SORT = strawberry.argument(description="The order of the rows; a cursor resumes only its own.")
INPUT = strawberry.argument(description="What to write: see the input type's fields.")
ID = strawberry.argument(description="The global id of the row.")
VERSION = strawberry.argument(
    description="The `version` you last read; if the row changed since, the write is refused "
    "with `CONFLICT` / `VERSION_MISMATCH`."
)
