"""Binance's SIGNED requests: the API key, the HMAC signature and the timing checks.

A signed request names its key in the `X-MBX-APIKEY` header and carries `timestamp`,
perhaps `recvWindow`, and `signature`: the HMAC-SHA256 (hex) of the query string followed
by the body, as sent, without the `signature` parameter itself. The checks run in
Binance's order, each with its error: whether the key is known, and if not, whether it
has a Binance key's form (-2015) or not (-2014), the timestamp and window (-1102, -1131,
-1021), then the signature (-1022).
Secrets are only ever used to compute an HMAC: never logged, never answered.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, Header, Query, Request

from execution_service.api.binance.errors import BinanceError
from execution_service.api.binance.params import now_ms
from execution_service.api.deps import Context
from execution_service.config import ApiKey
from execution_service.domain.codec import whole_number

DEFAULT_RECV_WINDOW_MS = Decimal(5000)
MAX_RECV_WINDOW_MS = Decimal(60000)
# What Binance's keys look like; a configured key is known whatever it looks like, an
# unknown one is refused as malformed (-2014) unless it has this form (-2015).
_BINANCE_KEY = re.compile(r"[A-Za-z0-9]{64}")
_AHEAD_MS = 1000  # a timestamp may be this far ahead of the server's clock
_FORM = "application/x-www-form-urlencoded"
_MAX_BODY = 65_536
_HEX = frozenset("0123456789abcdef")
_RECV_WINDOW = re.compile(r"[0-9]{1,12}(\.[0-9]{0,3})?", re.ASCII)  # milliseconds, to the µs


@dataclass(frozen=True, slots=True)
class Signed:
    """A request that passed the checks: whose key it is and its parameters (the query's
    and the body's; a name sent twice is refused)."""

    key: ApiKey
    params: dict[str, str]

    @property
    def account(self) -> str:
        return self.key.account


async def signed(
    request: Request, context: Context,
    api_key: Annotated[str | None, Header(alias="X-MBX-APIKEY", max_length=128, description=(
        "a key of BINANCE_API_KEYS"))] = None,
    timestamp: Annotated[str | None, Query(max_length=20, description=(
        "milliseconds (or microseconds) since the epoch; here or in the body"))] = None,
    recv_window: Annotated[str | None, Query(alias="recvWindow", max_length=20, description=(
        "milliseconds the request stays valid: 5000 unless given, at most 60000"))] = None,
    signature: Annotated[str | None, Query(max_length=128, description=(
        "HMAC-SHA256 (hex) of the query string followed by the body, this parameter left"
        " out; here or, last, in the body"))] = None,
) -> Signed:
    """The dependency of every SIGNED endpoint. (The parameters are declared for the
    OpenAPI document; they are read from the query and the body as sent.)"""
    key = known_key(context.api_keys, api_key)
    query = request.url.query
    body = await _form_body(request)
    params = _params(query, body)
    check_timing(params, now_ms(context.clock))
    signature = params.pop("signature", None)
    if not signature:
        raise BinanceError.missing("signature")
    check_signature(key, _without_signature(query) + _without_signature(body), signature)
    return Signed(key, params)


SignedRequest = Annotated[Signed, Depends(signed)]


def known_key(keys: Mapping[str, ApiKey], given: str | None) -> ApiKey:
    """The key named, or Binance's refusal: -2014 for no key or an unknown one without a
    Binance key's form, -2015 for an unknown one with it."""
    key = keys.get(given) if given else None
    if key is None and not _BINANCE_KEY.fullmatch(given or ""):
        raise BinanceError(-2014, "API-key format invalid.", 401)
    if key is None:
        raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
    return key


def check_signature(key: ApiKey, payload: str, signature: str) -> None:
    """-1022 unless `signature` is the HMAC-SHA256 (hex) of `payload` with the key's secret."""
    expected = hmac.new(key.secret.get_secret_value().encode(), payload.encode(),
                        hashlib.sha256).hexdigest()
    # HMAC's hex is not case-sensitive; anything but 64 hex digits cannot be one.
    given_hex = signature.lower()
    if len(given_hex) != len(expected) or not set(given_hex) <= _HEX or not hmac.compare_digest(
            expected.encode(), given_hex.encode()):
        raise BinanceError(-1022, "Signature for this request is not valid.")


async def _form_body(request: Request) -> str:
    if request.method in ("GET", "HEAD"):
        return ""
    raw = await request.body()
    if not raw:
        return ""
    if len(raw) > _MAX_BODY:
        raise BinanceError(-1101, "Too many parameters sent for this endpoint.")
    kind = request.headers.get("content-type", _FORM).split(";")[0].strip().lower()
    if kind != _FORM:
        raise BinanceError(-1102, f"Parameters must be sent as {_FORM}, not {kind[:40]}.")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise BinanceError(-1100, "Illegal characters found in a parameter.") from None


def _params(query: str, body: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in (query, body):
        for name, value in parse_qsl(part, keep_blank_values=True):
            if name in params:
                raise BinanceError(-1101, "Duplicate values for a parameter detected.")
            params[name] = value
    return params


def sorted_payload(params: Sequence[tuple[str, str]]) -> str:
    """What the WebSocket API signs: the parameters but `signature`, sorted by name, as a
    query string."""
    return urlencode(sorted((name, value) for name, value in params if name != "signature"))


def check_timing(params: dict[str, str], server_ms: int) -> None:
    """`timestamp` and `recvWindow` as Binance checks them (-1102, -1131, -1021)."""
    raw = params.get("timestamp", "")
    stamp = whole_number(raw, 19)
    if stamp is None:
        raise BinanceError.missing("timestamp")
    stamp_ms = stamp / 1000 if len(raw) >= 16 else stamp  # microseconds are accepted too
    window = _recv_window(params.get("recvWindow"))
    if stamp_ms >= server_ms + _AHEAD_MS:
        raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if server_ms - stamp_ms > window:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def _recv_window(raw: str | None) -> float:
    if raw is None:
        return float(DEFAULT_RECV_WINDOW_MS)
    if not _RECV_WINDOW.fullmatch(raw):
        raise BinanceError.illegal("recvWindow", "0-60000")
    window = Decimal(raw)
    if window <= 0:
        raise BinanceError.illegal("recvWindow", "0-60000")
    if window > MAX_RECV_WINDOW_MS:
        raise BinanceError(-1131, "recvWindow must be less than 60000")
    return float(window)


def _without_signature(encoded: str) -> str:
    """The text as sent, less its `signature=...` part (the only part not signed)."""
    if "signature=" not in encoded:
        return encoded
    return "&".join(part for part in encoded.split("&") if not part.startswith("signature="))
