"""Binance's error answers: `{"code": -1121, "msg": "Invalid symbol."}` with HTTP 400,
the codes and texts of its errors.md, so that ccxt raises the exception class it would
raise against Binance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request

from execution_service.api.responses import JSONResponse


class BinanceError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400,
                 data: Mapping[str, Any] | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status
        self.data = data  # what some errors carry besides (cancelReplace's results)

    @classmethod
    def bad_symbol(cls) -> BinanceError:
        return cls(-1121, "Invalid symbol.")

    @classmethod
    def missing(cls, name: str) -> BinanceError:
        return cls(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")

    @classmethod
    def illegal(cls, name: str, legal: str) -> BinanceError:
        return cls(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")

    @classmethod
    def from_validation(cls, error: Mapping[str, Any]) -> BinanceError:
        """A parameter FastAPI refused, as Binance words it (-1100)."""
        name = str(error["loc"][-1]) if error.get("loc") else "?"
        context = error.get("ctx") or {}
        legal = context.get("pattern") or str(error.get("msg", ""))
        return cls.illegal(name, str(legal))

    @classmethod
    def bad_combination(cls) -> BinanceError:
        return cls(-1128, "Combination of optional parameters invalid.")


async def binance_error(_request: Request, exc: BinanceError) -> JSONResponse:
    body: dict[str, Any] = {"code": exc.code, "msg": exc.msg}
    if exc.data is not None:
        body["data"] = exc.data
    return JSONResponse(body, status_code=exc.status)
