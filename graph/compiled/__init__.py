"""Compiled reads: covered root fields answered by one SQL statement that builds their JSON.

``selection`` turns a root field's selection into a tree of stored columns and relations (or
says it is not covered), ``statement`` writes the one statement for it with the access plan's
row filters and field masks inside, ``run`` executes it and finishes what SQL cannot (global
ids, cursors, the audit trail and ``FORBIDDEN_FIELD`` refusals), ``entities``, ``lookups`` and
``lists`` add root fields on its machinery, and ``extension`` answers the covered root fields of
an operation this way and leaves the rest to the resolvers.
"""
