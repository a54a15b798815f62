"""Found in review of the HSDS API's parameters: each test is a bug that was fixed."""

from __future__ import annotations

import pytest

from .conftest import Api


@pytest.mark.parametrize(
    "query",
    [
        "per_page=1&per_page=5",
        "taxonomy_term_id=00000000-0000-0000-0000-000000000001"
        "&taxonomy_term_id=00000000-0000-0000-0000-000000000002",
        "search=food&search=",
    ],
)
async def test_a_repeated_parameter_is_refused_not_half_read(api: Api, query: str) -> None:
    # Only one of the values would be used; the caller must hear which form to use instead.
    response = await api.http.get(f"/hsds/services?{query}")
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "BAD_USER_INPUT" and error["reason"] == "REPEATED_PARAMETER"
    assert error["parameter"] == query.split("=")[0]
