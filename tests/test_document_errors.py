"""A document that does not parse or validate is answered as the GraphQL ecosystem names it
(`GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`), so that a partner's client can branch on
it; a bad argument value stays `BAD_USER_INPUT` and a limit `QUERY_TOO_COMPLEX`."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Api

CALLER = "prairie-admin"


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["message"], error
    return error  # type: ignore[no-any-return]


async def test_a_document_that_does_not_parse(api: Api) -> None:
    error = only_error(await api.gql(CALLER, "{ viewer { name "))
    assert error["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}
    assert error["message"].startswith("Syntax Error")
    assert error["locations"] == [{"line": 1, "column": 17}]


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ("{ viewer { nope } }", "Cannot query field 'nope'"),
        ('{ services(first: "ten") { totalCount } }', "Int cannot represent"),
        ("{ services(frist: 1) { totalCount } }", "Unknown argument 'frist'"),
        ("query($n: Int) { viewer { name } }", "Variable '$n' is never used"),
    ],
)
async def test_a_document_that_does_not_validate(api: Api, document: str, says: str) -> None:
    error = only_error(await api.gql(CALLER, document))
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert says in error["message"], error


async def test_validation_failures_keep_their_code_when_the_document_is_cached(api: Api) -> None:
    for _ in range(2):
        error = only_error(await api.gql(CALLER, "{ viewer { nope } }"))
        assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        ("{ services(first: -1) { totalCount } }", {}),
        ("query($n: Int) { services(first: $n) { totalCount } }", {"n": "ten"}),
        ("query($n: Int!) { services(first: $n) { totalCount } }", {}),
    ],
)
async def test_a_bad_argument_value_stays_bad_user_input(
    api: Api, document: str, variables: dict[str, Any]
) -> None:
    body = await api.gql(CALLER, document, variables)
    codes = [e["extensions"]["code"] for e in body["errors"]]
    assert codes == ["BAD_USER_INPUT"], body


async def test_the_token_limit_stays_query_too_complex(api: Api) -> None:
    document = "{ viewer { " + "name " * 6_000 + "} }"
    error = only_error(await api.gql(CALLER, document))
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX", error
