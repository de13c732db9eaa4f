"""Paper execution v1 (SPEC 4.3): prices, slippage, fees, balances, seeded determinism."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution_service.domain.commands import SubmitOrder
from execution_service.domain.orders import ErrorCode, OrderStatus, Side, Source
from execution_service.domain.symbols import split_symbol
from execution_service.engine.account import Account
from execution_service.engine.exchange import Intake, OrderFilled, OrderRejected, PaperExchange
from execution_service.engine.models import EXACT, FeeSchedule, SquareRootSlippage
from execution_service.engine.prices import REFERENCE_PRICES, MarketPrices, round_price

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
INTAKE = Intake(Source.STREAM, None, NOW)
SLIPPAGE = SquareRootSlippage(Decimal(1), Decimal(10), Decimal(1_000_000))
FEES = FeeSchedule(taker=Decimal("0.001"), maker=Decimal("0.001"))


def exchange(seed: int = 7, success_rate: float = 1.0, volatility_bps: str = "2") -> PaperExchange:
    rng = random.Random(seed)
    prices = MarketPrices(REFERENCE_PRICES, rng, Decimal(volatility_bps), live_max_age_s=60)
    return PaperExchange(prices, SLIPPAGE, FEES, success_rate, rng)


def buy(quantity: str, symbol: str = "BTCUSDT") -> SubmitOrder:
    return SubmitOrder(symbol=symbol, side=Side.BUY, quantity=Decimal(quantity))


def sell(quantity: str, symbol: str = "BTCUSDT") -> SubmitOrder:
    return SubmitOrder(symbol=symbol, side=Side.SELL, quantity=Decimal(quantity))


def test_slippage_grows_with_order_size() -> None:
    small, large = SLIPPAGE.bps(Decimal(100)), SLIPPAGE.bps(Decimal(1_000_000))
    assert small == Decimal("1.1000")
    assert large == Decimal("11.0000")


def test_fill_price_buyer_pays_more_seller_receives_less() -> None:
    mid = Decimal(90000)
    assert SLIPPAGE.fill_price(Side.BUY, mid, Decimal(10)) == Decimal("90090.00000000")
    assert SLIPPAGE.fill_price(Side.SELL, mid, Decimal(10)) == Decimal("89910.00000000")


def test_taker_fee_rounds_up_to_eight_places() -> None:
    assert FEES.taker_fee(Decimal("90.000000001")) == Decimal("0.09000001")


def test_buy_fills_at_mid_plus_slippage_and_pays_fee_in_quote() -> None:
    live = exchange()
    live.prices.on_trade("BTCUSDT", Decimal(90000), int(NOW.timestamp() * 1000))
    account = Account({"USDT": Decimal(100000)})
    ledger = account.ledger()
    execution = live.execute(buy("0.001"), ledger, INTAKE)
    assert isinstance(execution, OrderFilled)
    order, trade = execution.order, execution.trade
    bps = SLIPPAGE.bps(Decimal("90"))
    assert order.status is OrderStatus.FILLED
    assert order.slippage_bps == bps
    assert trade.price == SLIPPAGE.fill_price(Side.BUY, Decimal(90000), bps)
    assert trade.fee == FEES.taker_fee(trade.quantity * trade.price)
    assert ledger.changed() == {"BTC": Decimal("0.001"),
                                "USDT": Decimal(100000) - trade.quantity * trade.price - trade.fee}
    assert order.order_id.startswith("MOCK_")
    assert len(order.order_id) == 5 + 32
    assert trade.trade_id == order.order_id + "-1"


def test_sell_without_the_base_asset_is_insufficient_balance() -> None:
    execution = exchange().execute(sell("1"), Account({"USDT": Decimal(10**6)}).ledger(), INTAKE)
    assert isinstance(execution, OrderRejected)
    assert execution.order.error_code is ErrorCode.INSUFFICIENT_BALANCE
    assert "BTC" in (execution.order.error_message or "")


def test_buy_beyond_the_quote_balance_is_insufficient_balance() -> None:
    execution = exchange().execute(buy("2"), Account({"USDT": Decimal(1000)}).ledger(), INTAKE)
    assert isinstance(execution, OrderRejected)
    assert execution.order.error_code is ErrorCode.INSUFFICIENT_BALANCE


def test_unknown_symbol_is_rejected_until_market_data_prices_it() -> None:
    live = exchange()
    ledger = Account({"USDT": Decimal(1000)}).ledger()
    assert live.execute(buy("1", "FOOUSDT"), ledger, INTAKE).order.error_code is \
        ErrorCode.UNKNOWN_SYMBOL
    live.prices.on_trade("FOOUSDT", Decimal("2.5"), int(NOW.timestamp() * 1000))
    assert isinstance(live.execute(buy("1", "FOOUSDT"), ledger, INTAKE), OrderFilled)


def test_symbol_without_known_quote_asset_is_unknown() -> None:
    assert split_symbol("ABCXYZ") is None
    execution = exchange().execute(buy("1", "ABCXYZ"), Account().ledger(), INTAKE)
    assert execution.order.error_code is ErrorCode.UNKNOWN_SYMBOL


def test_kill_switch_rejects_before_anything_else() -> None:
    execution = exchange().execute(buy("0.001"), Account({"USDT": Decimal(10**6)}).ledger(),
                                   INTAKE, halted="risk limit")
    assert execution.order.error_code is ErrorCode.KILL_SWITCH
    assert "risk limit" in (execution.order.error_message or "")


def test_mock_success_rate_rejects_about_that_share() -> None:
    live = exchange(success_rate=0.95)
    ledger = Account({"USDT": Decimal(10**9)}).ledger()
    codes = [live.execute(buy("0.0001"), ledger, INTAKE).order.error_code for _ in range(4000)]
    rejected = codes.count(ErrorCode.MOCK_REJECTION)
    assert 120 <= rejected <= 280  # 5 % of 4000 = 200; bounds are > 5 standard deviations


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_mock_success_rate_extremes(rate: float) -> None:
    live = exchange(success_rate=rate)
    ledger = Account({"USDT": Decimal(10**9)}).ledger()
    statuses = {live.execute(buy("0.0001"), ledger, INTAKE).order.status for _ in range(50)}
    assert statuses == ({OrderStatus.FILLED} if rate == 1.0 else {OrderStatus.REJECTED})


def test_same_seed_same_ids_prices_and_fills() -> None:
    def run(seed: int = 42) -> list[tuple[str, Decimal | None, OrderStatus]]:
        live = exchange(seed=seed, success_rate=0.9)
        ledger = Account({"USDT": Decimal(10**6)}).ledger()
        orders = [live.execute(buy("0.01", s), ledger, INTAKE).order
                  for s in ["BTCUSDT", "ETHUSDT", "SOLUSDT"] * 20]
        return [(o.order_id, o.avg_fill_price, o.status) for o in orders]

    assert run() == run()
    assert run(seed=43) != run()


def test_random_walk_stays_near_the_reference_and_on_the_tick() -> None:
    prices = MarketPrices(REFERENCE_PRICES, random.Random(1), Decimal(2), live_max_age_s=60)
    quotes = [prices.quote("BTCUSDT", 0) for _ in range(1000)]
    assert all(q is not None and Decimal(80000) < q < Decimal(100000) for q in quotes)
    assert len(set(quotes)) > 100
    assert all(q == round_price(q) for q in quotes if q is not None)


def test_live_price_is_used_while_fresh_then_the_walk_continues_from_it() -> None:
    prices = MarketPrices(REFERENCE_PRICES, random.Random(1), Decimal(2), live_max_age_s=60)
    prices.on_trade("BTCUSDT", Decimal("50000"), ts_ms=1_000)
    assert prices.quote("BTCUSDT", now_ms=30_000) == Decimal("50000")
    stale = prices.quote("BTCUSDT", now_ms=1_000 + 61_000)
    assert stale is not None
    assert abs(stale - 50000) < 100


def test_round_price_keeps_seven_significant_digits_and_eight_places() -> None:
    assert round_price(Decimal("90123.456789")) == Decimal("90123.46")
    assert round_price(Decimal("0.0000084567891")) == Decimal("0.00000846")


trades = st.lists(st.tuples(st.sampled_from(["BTCUSDT", "ETHUSDT", "ETHBTC"]),
                            st.sampled_from([Side.BUY, Side.SELL]),
                            st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(3),
                                        places=8)),
                  min_size=1, max_size=60)


@given(trades, st.integers(0, 2**32))
def test_accounting_balances_equal_initial_plus_fills_minus_fees(
    orders: list[tuple[str, Side, Decimal]], seed: int
) -> None:
    initial = {"USDT": Decimal(100000), "BTC": Decimal(1)}
    account = Account(initial)
    live = exchange(seed=seed, success_rate=0.9)
    fills = []
    for symbol, side, quantity in orders:
        ledger = account.ledger()
        execution = live.execute(SubmitOrder(symbol=symbol, side=side, quantity=quantity), ledger,
                                 INTAKE)
        account.apply(ledger)
        if isinstance(execution, OrderFilled):
            fills.append(execution.trade)
    expected = dict(initial)
    for trade in fills:
        pair = split_symbol(trade.symbol)
        assert pair is not None
        sign = 1 if trade.side is Side.BUY else -1
        expected[pair.base] = expected.get(pair.base, Decimal(0)) + sign * trade.quantity
        expected[pair.quote] = (expected.get(pair.quote, Decimal(0)) - sign * trade.notional
                                - trade.fee)
    for asset in {*expected, *account.balances()}:
        assert account.free(asset) == expected.get(asset, Decimal(0))
    assert all(value >= 0 for value in account.balances().values())


def test_readme_worked_example() -> None:
    live = exchange()
    live.prices.on_trade("BTCUSDT", Decimal(90000), int(NOW.timestamp() * 1000))
    ledger = Account({"USDT": Decimal(1000)}).ledger()
    execution = live.execute(buy("0.001"), ledger, INTAKE)
    assert isinstance(execution, OrderFilled)
    assert execution.trade.slippage_bps == Decimal("1.0949")
    assert execution.trade.price == Decimal("90009.85410000")
    assert execution.trade.fee == Decimal("0.09000986")
    assert ledger.changed() == {"BTC": Decimal("0.001"),
                                "USDT": Decimal(1000) - Decimal("90.00985410") - Decimal("0.09000986")}


def test_large_amounts_stay_exact_beyond_28_digits() -> None:
    live = exchange()
    live.prices.on_trade("ETHUSDT", Decimal("3000.12345678"), int(NOW.timestamp() * 1000))
    quantity = Decimal("12345678901.12345678")  # 19 digits; times the price: 31 digits
    ledger = Account({"USDT": Decimal("1e15")}).ledger()
    execution = live.execute(buy(str(quantity), "ETHUSDT"), ledger, INTAKE)
    assert isinstance(execution, OrderFilled)
    trade = execution.trade
    notional = EXACT.multiply(quantity, trade.price)
    assert len(notional.as_tuple().digits) > 28  # the default context would have rounded it
    assert ledger.changed()["USDT"] == EXACT.subtract(EXACT.subtract(Decimal("1e15"), notional),
                                                      trade.fee)
    assert execution.order.slippage_bps == Decimal(500)  # capped


def test_slippage_is_capped_so_a_seller_never_gets_a_negative_price() -> None:
    assert SLIPPAGE.bps(Decimal("1e18")) == Decimal(500)
    assert SLIPPAGE.fill_price(Side.SELL, Decimal(100), SLIPPAGE.bps(Decimal("1e18"))) == \
        Decimal("95.00000000")


def test_order_value_beyond_the_limit_is_invalid() -> None:
    execution = exchange().execute(buy("999999999999"), Account({"USDT": Decimal(1)}).ledger(),
                                   INTAKE)
    assert execution.order.error_code is ErrorCode.INVALID_ORDER
    assert "exceeds" in (execution.order.error_message or "")
