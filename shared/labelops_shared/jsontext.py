"""JSON text a client sends (answers, template options): parsed strictly, or refused with a
reason a person can act on. Strict means what the database and every reader can keep: no NaN
or infinities, and no nesting deeper than ``MAX_DEPTH`` (Python's parser gives up with a
RecursionError near a thousand levels, and every later reader would too)."""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64


class JsonTextError(ValueError):
    """The text is not JSON a service accepts; the message says why."""


def _refuse_constant(name: str) -> None:
    raise JsonTextError(f"{name} is not valid JSON (numbers are finite)")


def _depth(value: Any) -> int:
    """How deep objects and arrays nest (0 for a scalar), without recursion."""
    deepest, pending = 0, [(value, 0)]
    while pending:
        found, depth = pending.pop()
        if isinstance(found, dict | list):
            depth += 1
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                break
            pending.extend((inner, depth) for inner in (
                found.values() if isinstance(found, dict) else found))
    return deepest


def parse(text: str) -> Any:
    """The value of ``text``; JsonTextError when it is not strict JSON."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise JsonTextError(f"nested more than {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError as exc:
        raise JsonTextError(f"not valid JSON ({exc.msg} at line {exc.lineno} column "
                            f"{exc.colno})") from None
    except JsonTextError:
        raise
    except ValueError as exc:  # an integer of more than 4300 digits
        raise JsonTextError(str(exc)) from None
    if _depth(value) > MAX_DEPTH:
        raise JsonTextError(f"nested more than {MAX_DEPTH} levels deep")
    return value
