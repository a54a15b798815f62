"""Full-text search with the same matching rules on both backends.

Rules both honour: the query is split into words (letters and digits); every word must
match, case-insensitively, as a word or a word prefix ("pan" matches "Pantry"). Ranking may
differ between backends; results are ordered by the caller's sort, not by rank.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Boolean, ColumnElement, column, false, func, literal_column, select, table

from sharegraph.errors import BadUserInput

WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 16


def words(query: str) -> list[str]:
    found = [w.lower() for w in WORD.findall(query)]
    if not found:
        raise BadUserInput("`search` needs at least one letter or digit", reason="BAD_SEARCH")
    if len(found) > MAX_WORDS:
        raise BadUserInput(f"`search` accepts at most {MAX_WORDS} words", reason="BAD_SEARCH")
    return found


# The indexed columns of each searchable table, in index order (see migration 0001).
SEARCHABLE: dict[str, tuple[str, ...]] = {
    "organizations": ("name", "alternate_name", "description"),
    "services": ("name", "alternate_name", "description"),
    "locations": ("name", "alternate_name", "description"),
    "taxonomy_terms": ("name", "code", "description"),
}


def matches(
    model: Any, query: str, dialect: str, columns: tuple[str, ...] | None = None
) -> ColumnElement[bool]:
    """A predicate selecting the ``model`` rows whose indexed text matches ``query``.

    ``columns`` narrows the match to some of the indexed columns (a caller never matches on
    text it may not read).
    """
    terms = words(query)
    tablename = model.__tablename__
    indexed = SEARCHABLE[tablename]
    narrowed = columns is not None and set(columns) != set(indexed)
    if columns is not None and not columns:
        return false()
    if dialect == "postgresql":
        tsquery = " & ".join(f"{term}:*" for term in terms)
        vector: ColumnElement[Any] = literal_column(f"{tablename}.search_vector")
        if narrowed:
            document = " || ' ' || ".join(
                f"coalesce({tablename}.{c}, '')" for c in indexed if c in (columns or ())
            )
            vector = func.to_tsvector("simple", literal_column(document))
        return vector.op("@@", return_type=Boolean)(func.to_tsquery("simple", tsquery))
    fts = table(f"{tablename}_fts", column("rowid"))
    fts_query = " ".join('"' + term.replace('"', '""') + '"*' for term in terms)
    if narrowed:
        fts_query = (
            "{" + " ".join(c for c in indexed if c in (columns or ())) + "} : (" + fts_query + ")"
        )
    matching = select(fts.c.rowid).where(literal_column(f"{tablename}_fts").op("MATCH")(fts_query))
    return literal_column(f"{tablename}.rowid").in_(matching)
