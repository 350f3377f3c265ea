"""List prices per million tokens, for agents that report tokens rather than dollars (Codex,
the Gemini CLI): one price type, tables merged from the defaults and the user's, lookups."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from scopecraft._errors import ConfigError

__all__ = ["TokenPrice", "merged_prices", "price_in", "token_price"]

_DATED_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


@attrs.frozen
class TokenPrice:
    """A model's list price in USD per million tokens.

    Attributes:
        input: Input tokens not served from the prompt (or context) cache.
        cached_input: Input tokens served from the cache.
        output: Output tokens (reasoning and thinking included).
    """

    input: float
    cached_input: float
    output: float

    def cost(self, input_tokens: int, cached_input_tokens: int, output_tokens: int) -> float:
        """USD for one usage; ``input_tokens`` includes the cached ones, as both CLIs count."""
        cached = min(max(cached_input_tokens, 0), max(input_tokens, 0))
        fresh = max(input_tokens, 0) - cached
        return (
            fresh * self.input + cached * self.cached_input + max(output_tokens, 0) * self.output
        ) / 1_000_000


def token_price(
    value: TokenPrice | tuple[float, float, float] | Any, model: str, agent: str
) -> TokenPrice:
    """``value`` as a price: a `TokenPrice`, three numbers, or a mapping of them.

    Raises:
        ConfigError: it is not three non-negative numbers.
    """
    if isinstance(value, TokenPrice):
        return value
    if isinstance(value, Mapping):
        value = (value.get("input"), value.get("cached_input"), value.get("output"))
    if isinstance(value, tuple | list) and len(value) == 3:
        numbers = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) == 3 and all(n >= 0 for n in numbers):
            return TokenPrice(float(numbers[0]), float(numbers[1]), float(numbers[2]))
    raise ConfigError(
        f"{agent}: the price of {model!r} must be three non-negative numbers "
        "(input, cached input, output; USD per million tokens)"
    )


def merged_prices(
    defaults: Mapping[str, TokenPrice], prices: Mapping[str, Any] | None, agent: str
) -> dict[str, TokenPrice]:
    """The defaults with the user's ``prices`` over them, each checked."""
    table = dict(defaults)
    for model, price in (prices or {}).items():
        table[model] = token_price(price, model, agent)
    return table


def price_in(
    prices: Mapping[str, TokenPrice],
    model: str | None,
    fallback: TokenPrice,
    *,
    dated: re.Pattern[str] = _DATED_SUFFIX,
) -> TokenPrice:
    """The price of ``model``: its own entry (a ``models/`` prefix dropped), else its name
    without a snapshot suffix (``dated``; default ``-YYYY-MM-DD``), else ``default``, else
    ``fallback``."""
    if model:
        name = model.removeprefix("models/")
        for key in (name, dated.sub("", name)):
            if key in prices:
                return prices[key]
    return prices.get("default", fallback)
