"""Trading symbols: normalization (`BTC/USDT` -> `BTCUSDT`) and the base/quote split."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

# Longest first, so that "FDUSD" wins over "USD"-like suffixes and "USDT" over "DT".
QUOTE_ASSETS = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "DAI", "EUR", "TRY", "BRL",
                "BTC", "ETH", "BNB")

_SEPARATORS = re.compile(r"[/_\-:]")
_VALID = re.compile(r"^[A-Z0-9]{2,20}$")


class Pair(NamedTuple):
    base: str
    quote: str


def normalize_symbol(raw: str) -> str | None:
    """Return the exchange symbol (`BTCUSDT`) for `BTCUSDT`, `btc/usdt` or `BTC_USDT`, else None."""
    symbol = _SEPARATORS.sub("", raw.strip()).upper()
    return symbol if _VALID.match(symbol) else None


@functools.lru_cache(maxsize=4096)
def split_symbol(symbol: str) -> Pair | None:
    """Split a normalized symbol into base and quote asset, or None if no known quote ends it."""
    for quote in QUOTE_ASSETS:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return Pair(symbol[: -len(quote)], quote)
    return None
