"""JSON schemas as MCP clients read them: the pydantic models' schemas, standard formats only.

pydantic gives some types a ``format`` of its own (``"path"`` for `pathlib.Path`,
``"binary"``, ``"password"``, ...). JSON Schema validators in MCP clients (MCP Inspector and
Claude Code use Ajv) know only the formats JSON Schema defines, and warn about every other one
(``unknown format "path" ignored``). The server advertises every schema through
`portable_schema()`, which drops the formats JSON Schema does not define and leaves the
rest of the schema as pydantic wrote it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["STANDARD_FORMATS", "portable_schema"]

STANDARD_FORMATS: frozenset[str] = frozenset(
    {
        "date-time",
        "date",
        "time",
        "duration",
        "email",
        "idn-email",
        "hostname",
        "idn-hostname",
        "ipv4",
        "ipv6",
        "uri",
        "uri-reference",
        "iri",
        "iri-reference",
        "uuid",
        "uri-template",
        "json-pointer",
        "relative-json-pointer",
        "regex",
    }
)
"""The formats JSON Schema (draft 2020-12, section 7.3) defines."""

# Keywords whose value maps names to subschemas (the names are data, not keywords).
_SCHEMA_MAPS = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
)
# Keywords whose value is a list of subschemas.
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
# Keywords whose value is one subschema (``items`` may also be a list in older drafts).
_SCHEMA_VALUES = frozenset(
    {
        "items",
        "additionalItems",
        "additionalProperties",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contains",
        "propertyNames",
        "not",
        "if",
        "then",
        "else",
    }
)


def portable_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``schema`` without the formats JSON Schema does not define.

    Only the ``format`` keyword of a schema or subschema is looked at: a property *named*
    ``format`` and values such as ``default``, ``const`` or ``examples`` are kept as they are.

    Args:
        schema: A JSON schema, for example a pydantic model's ``model_json_schema()``.

    Returns:
        A new schema; ``schema`` is not changed.
    """
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "format" and isinstance(value, str) and value not in STANDARD_FORMATS:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, Mapping):
            out[key] = {name: _clean(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_clean(sub) for sub in value]
        elif key in _SCHEMA_VALUES:
            out[key] = [_clean(sub) for sub in value] if isinstance(value, list) else _clean(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _clean(schema: Any) -> Any:
    if isinstance(schema, Mapping):
        return portable_schema(schema)
    return copy.deepcopy(schema)  # a boolean schema
