"""No N+1: a nested query makes the same number of SQL statements for 10 or 100 records."""

from __future__ import annotations

from .conftest import Api, StatementCounter
from .queries import CONTACT_RECORDS_NESTED

DIRECTORY_NESTED = """
query($first: Int) {
  services(first: $first) {
    edges { node {
      name organization { name }
      locations { name addresses { city } phones { number } }
      phones { number } schedules { opensAt } taxonomyTerms { code }
    } }
  }
}
"""


async def _statements(
    api: Api, counter: StatementCounter, query: str, first: int
) -> tuple[int, int]:
    own = (await api.data("prairie-admin", "{ viewer { tenant { id } } }"))["viewer"]["tenant"][
        "id"
    ]
    variables: dict[str, object] = {"first": first}
    if "ContactRecordFilterInput" in query:
        variables["filter"] = {"tenantIds": [own]}  # rows shared by others show fewer fields
    counter.statements.clear()
    data = await api.data("prairie-admin", query, variables)
    rows = len(next(iter(data.values()))["edges"])
    # The audit trail is written in one or two batched INSERTs (one per kind of entry),
    # whatever the number of records: count the reads, bound the audit writes.
    audit = [
        s for s in counter.statements if s.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS")
    ]
    assert len(audit) <= 3
    return counter.count - len(audit), rows


async def test_contact_records_with_clients_referrals_services_and_organizations(
    api: Api, count_statements: StatementCounter
) -> None:
    few, few_rows = await _statements(api, count_statements, CONTACT_RECORDS_NESTED, 10)
    many, many_rows = await _statements(api, count_statements, CONTACT_RECORDS_NESTED, 100)
    assert (few_rows, many_rows) == (10, 100)
    assert many == few, count_statements.statements
    # authentication (key, principal, roles, demo flag) + page + count + one per relation level
    assert few <= 18


async def test_directory_services_with_nested_relations(
    api: Api, count_statements: StatementCounter
) -> None:
    few, few_rows = await _statements(api, count_statements, DIRECTORY_NESTED, 10)
    many, many_rows = await _statements(api, count_statements, DIRECTORY_NESTED, 60)
    assert few_rows == 10 and many_rows > few_rows
    assert many == few, count_statements.statements
