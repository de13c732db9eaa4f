"""The paper exchange: executes a `SubmitOrder` at once, as a market order on a spot account."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext

from execution_service.domain.commands import SubmitOrder
from execution_service.domain.orders import (
    ErrorCode,
    Liquidity,
    Order,
    OrderStatus,
    Side,
    Source,
    Trade,
)
from execution_service.domain.symbols import Pair, split_symbol
from execution_service.engine.account import Ledger
from execution_service.engine.models import EXACT, MAX_NOTIONAL, FeeSchedule, SquareRootSlippage
from execution_service.engine.prices import MarketPrices


@dataclass(frozen=True, slots=True)
class OrderFilled:
    order: Order
    trade: Trade


@dataclass(frozen=True, slots=True)
class OrderRejected:
    order: Order


Execution = OrderFilled | OrderRejected


@dataclass(frozen=True, slots=True)
class Intake:
    """Where and when an order arrived; `ref` is its idempotency key when it has no client_id."""

    source: Source
    ref: str | None
    at: datetime


class PaperExchange:
    """Fills market orders against `MarketPrices` with slippage and taker fee.

    Checks, in order: kill switch, known symbol, free balance, then the seed's random
    rejection (`success_rate` of orders pass). Every random draw comes from `rng`, so a
    seeded generator makes ids, prices and rejections repeatable.
    """

    def __init__(
        self,
        prices: MarketPrices,
        slippage: SquareRootSlippage,
        fees: FeeSchedule,
        success_rate: float,
        rng: random.Random,
    ) -> None:
        self.prices = prices
        self._slippage = slippage
        self._fees = fees
        self._success_rate = success_rate
        self._rng = rng

    def new_order_id(self) -> str:
        return "MOCK_" + uuid.UUID(int=self._rng.getrandbits(128), version=4).hex

    def execute(
        self, command: SubmitOrder, ledger: Ledger, intake: Intake, halted: str | None = None
    ) -> Execution:
        """Execute `command` now, booking its balance changes in `ledger`."""
        with localcontext(EXACT):
            return self._execute(command, ledger, intake, halted)

    def _execute(
        self, command: SubmitOrder, ledger: Ledger, intake: Intake, halted: str | None
    ) -> Execution:
        order = self._new_order(command, intake)
        if halted is not None:
            return _reject(order, ErrorCode.KILL_SWITCH, f"kill switch engaged: {halted}")
        pair = split_symbol(command.symbol)
        mid = self.prices.quote(command.symbol, _ms(intake.at)) if pair else None
        if pair is None or mid is None:
            return _reject(order, ErrorCode.UNKNOWN_SYMBOL, f"unknown symbol {command.symbol}")
        return self._fill(order, pair, mid, ledger)

    def _fill(self, order: Order, pair: Pair, mid: Decimal, ledger: Ledger) -> Execution:
        if order.quantity * mid > MAX_NOTIONAL:
            return _reject(order, ErrorCode.INVALID_ORDER,
                           f"order value {order.quantity * mid:f} exceeds {MAX_NOTIONAL:f}")
        bps = self._slippage.bps(order.quantity * mid)
        price = self._slippage.fill_price(order.side, mid, bps)
        notional = order.quantity * price
        fee = self._fees.taker_fee(notional)
        if order.side is Side.BUY:
            spend_asset, spend = pair.quote, notional + fee
        else:
            spend_asset, spend = pair.base, order.quantity
        available = ledger.free(spend_asset)
        if available < spend:
            return _reject(order, ErrorCode.INSUFFICIENT_BALANCE,
                           f"{order.side} {order.quantity} {order.symbol} needs {spend} "
                           f"{spend_asset}, {available} free")
        if self._rng.random() >= self._success_rate:
            return _reject(order, ErrorCode.MOCK_REJECTION,
                           f"simulated exchange rejection (success rate {self._success_rate})")
        if order.side is Side.BUY:
            ledger.debit(pair.quote, spend)
            ledger.credit(pair.base, order.quantity)
        else:
            ledger.debit(pair.base, order.quantity)
            ledger.credit(pair.quote, notional - fee)
        order.status = OrderStatus.FILLED
        order.filled_quantity = order.quantity
        order.avg_fill_price = price
        order.fee = fee
        order.fee_asset = pair.quote
        order.slippage_bps = bps
        trade = Trade(
            trade_id=f"{order.order_id}-1", order_id=order.order_id, symbol=order.symbol,
            side=order.side, quantity=order.quantity, price=price, fee=fee,
            fee_asset=pair.quote, slippage_bps=bps, liquidity=Liquidity.TAKER,
            executed_at=order.updated_at,
        )
        return OrderFilled(order, trade)

    def _new_order(self, command: SubmitOrder, intake: Intake) -> Order:
        return Order(
            order_id=self.new_order_id(), client_id=command.client_id, symbol=command.symbol,
            side=command.side, order_type=command.order_type, quantity=command.quantity,
            price=command.price, status=OrderStatus.NEW, source=intake.source,
            created_at=intake.at, updated_at=intake.at, strategy_id=command.strategy_id,
            bot_id=command.bot_id, intake_ref=intake.ref, metadata=command.metadata,
        )


def _reject(order: Order, code: ErrorCode, message: str) -> OrderRejected:
    order.status = OrderStatus.REJECTED
    order.error_code = code
    order.error_message = message
    return OrderRejected(order)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)
