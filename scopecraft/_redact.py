"""Secret redaction (invariant 5): nothing secret reaches storage, labels or argv.

A `Redactor` replaces every configured secret value and every string that looks like
a common key format with ``[REDACTED]``. The engine runs every event and log line through one
before it is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["REDACTED", "Redactor"]

REDACTED = "[REDACTED]"

# Common key formats. Lengths are lower bounds that real keys exceed, so prose is not hit.
_PATTERNS = (
    r"sk-ant-[A-Za-z0-9_\-]{8,}",
    r"sk-[A-Za-z0-9_\-]{16,}",
    r"ghp_[A-Za-z0-9]{20,}",
    r"gho_[A-Za-z0-9]{20,}",
    r"ghs_[A-Za-z0-9]{20,}",
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"AKIA[0-9A-Z]{16}",
    r"xox[abpr]-[A-Za-z0-9-]{10,}",
)
_MIN_SECRET_LENGTH = 4

M = TypeVar("M", bound=BaseModel)


class Redactor:
    """Replaces secret values and key-shaped strings by ``[REDACTED]``.

    Each value is hidden in every form an agent's output may carry it: as it is, escaped
    once as a JSON string (stream-JSON lines hold a quote or a backslash escaped, and what
    is not ASCII as a ``u`` escape), and escaped twice (JSON text inside a JSON string, as
    tool results carry it).

    Args:
        secrets: Values to hide wherever they appear. Values shorter than 4 characters are
            ignored (hiding every ``a`` would destroy the text and protect nothing).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        kept = {s for s in secrets if isinstance(s, str) and len(s) >= _MIN_SECRET_LENGTH}
        self._values = frozenset(kept)
        forms = sorted({form for value in kept for form in _forms(value)}, key=len, reverse=True)
        alternatives = [re.escape(v) for v in forms] + list(_PATTERNS)
        self._pattern = re.compile("|".join(alternatives))
        self._count = len(kept)

    @property
    def values(self) -> frozenset[str]:
        """The explicit secret values this redactor hides (never to be stored or shown)."""
        return self._values

    def with_secrets(self, secrets: Iterable[str]) -> Redactor:
        """Return a redactor that also hides ``secrets`` (this one is unchanged)."""
        extra = set(secrets) - self._values
        return Redactor(self._values | extra) if extra else self

    @property
    def secret_count(self) -> int:
        """How many explicit secret values this redactor hides."""
        return self._count

    def text(self, value: str) -> str:
        """Return ``value`` with every secret replaced."""
        return self._pattern.sub(REDACTED, value)

    def data(self, value: Any) -> Any:
        """Return a copy of a JSON-like value (dicts, lists, strings) with secrets replaced."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value

    def model(self, value: M) -> M:
        """Return a copy of a pydantic model with secrets replaced in every string field."""
        dumped = value.model_dump(mode="json")
        cleaned = self.data(dumped)
        if cleaned == dumped:
            return value
        return type(value).model_validate(cleaned)


def _forms(value: str) -> set[str]:
    """The forms a secret value may take in output: raw, JSON-escaped once and twice."""
    forms = {value}
    for ascii_only in (False, True):
        once = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
        forms.add(once)
        forms.add(json.dumps(once, ensure_ascii=ascii_only)[1:-1])
    return {f for f in forms if len(f) >= _MIN_SECRET_LENGTH}
