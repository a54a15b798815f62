"""How deeply a JSON text nests, measured without parsing it.

``json.loads`` recurses once per level and raised ``RecursionError`` (a plain-text 500) on
variables nested 1,000 deep; everything after it (variable coercion, the list cap) walks the
same nesting. This scan is linear in the body, in C loops: strings are cut out with one regular
expression (possessive, so it never backtracks; an unterminated string runs to the end), the
brackets left are turned into steps, and the deepest running sum is the depth.
"""

from __future__ import annotations

import operator
import re
from itertools import accumulate, count

from sharegraph.errors import BadUserInput

_STRING = re.compile(rb'"(?:[^"\\]++|\\[\s\S]?)*+(?:"|\Z)')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
# Opening 2, closing 0: the running sum at the n-th bracket minus n is the depth there.
_STEP = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in ``body`` (UTF-8 JSON; an upper bound for
    text that is not valid JSON, which json.loads refuses anyway)."""
    steps = _STRING.sub(b"", body).translate(None, _NOT_BRACKET).translate(_STEP)
    return max(map(operator.sub, accumulate(steps), count(1)), default=0)


def refuse_deep_json(body: bytes, max_depth: int) -> None:
    """``BAD_USER_INPUT`` / ``JSON_TOO_DEEP`` when ``body`` nests deeper than ``max_depth``."""
    if json_depth(body) > max_depth:
        raise BadUserInput(
            f"the JSON body nests deeper than {max_depth} levels",
            reason="JSON_TOO_DEEP",
            limit=max_depth,
        )
