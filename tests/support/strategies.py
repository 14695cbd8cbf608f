"""Hypothesis strategies for Realtime client events, derived from the server's own JSON
schema of `ClientEvent` (so every event type and nested field is covered), then mutated:
any value may be swapped for random JSON, required fields dropped, unknown fields added,
numbers pushed far out of range. Ids come from a small pool so that retrieve, truncate and
delete hit items that exist as well as ones that do not.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pydantic
from hypothesis import strategies as st

from realtime2.protocol.client_events import ClientEvent

SCHEMA: dict[str, Any] = pydantic.TypeAdapter(ClientEvent).json_schema()
DEFS: dict[str, Any] = SCHEMA["$defs"]
ID_POOL = ("item_a", "item_b", "resp_a", "call_a", "")
HUGE_INTS = st.sampled_from([-(2**63), -1, 0, 2**31, 2**63, 10**30])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | HUGE_INTS
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
random_json = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _string(name: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if name in ("audio", "delta"):
        return st.binary(max_size=2400).map(lambda b: base64.b64encode(b).decode()) | st.text(
            max_size=20
        )
    if name.endswith("id"):
        return st.sampled_from(ID_POOL) | st.text(max_size=12)
    return st.text(max_size=int(schema.get("maxLength", 40)) if "maxLength" in schema else 40)


_CACHE: dict[tuple[str, str, int], st.SearchStrategy[Any]] = {}


def from_schema(schema: dict[str, Any], name: str = "", depth: int = 0) -> st.SearchStrategy[Any]:
    """Mostly-valid values for `schema`, each one sometimes replaced by random JSON."""
    if depth > 6:
        return random_json
    # Built once per (schema, field, depth): hypothesis needs stable strategy objects.
    key = (json.dumps(schema, sort_keys=True), name, depth)
    if key not in _CACHE:
        valid = _valid(schema, name, depth)
        _CACHE[key] = st.one_of(valid, random_json) if depth else valid
    return _CACHE[key]


def _valid(schema: dict[str, Any], name: str, depth: int) -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        return from_schema(DEFS[schema["$ref"].split("/")[-1]], name, depth)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return st.one_of([from_schema(s, name, depth) for s in schema[key]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return _object(schema, depth)
    if kind == "array":
        item = from_schema(schema.get("items", {}), name, depth + 1)
        return st.lists(item, max_size=3)
    if kind == "string":
        return _string(name, schema)
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        return st.integers(low, high) | HUGE_INTS
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum")) | st.floats(
            allow_nan=False, allow_infinity=False
        )
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return random_json


@st.composite
def _object_draw(draw: st.DrawFn, schema: dict[str, Any], depth: int) -> dict[str, Any]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    out: dict[str, Any] = {}
    for key, sub in properties.items():
        # Required fields are usually present, optional ones half the time.
        keep = draw(st.integers(0, 9)) < (9 if key in required else 5)
        if keep:
            out[key] = draw(from_schema(sub, key, depth + 1))
    if draw(st.integers(0, 9)) == 0:
        out[draw(st.text(max_size=10))] = draw(random_json)
    return out


def _object(schema: dict[str, Any], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    return _object_draw(schema, depth)


client_events = from_schema(SCHEMA)
