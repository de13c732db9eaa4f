"""The paper exchange's market orders: the synthetic book, fees, balances, checks."""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution_service.domain import codec
from execution_service.domain.commands import MarketTrade, SubmitOrder
from execution_service.domain.orders import (
    ErrorCode,
    Order,
    OrderStatus,
    OrderType,
    Side,
    Source,
    TimeInForce,
)
from execution_service.domain.symbols import split_symbol
from execution_service.engine.account import Amounts
from execution_service.engine.book import SyntheticBooks
from execution_service.engine.events import Intake
from execution_service.engine.exchange import PaperExchange
from execution_service.engine.filters import DEFAULT_FILTERS
from execution_service.engine.models import EXACT, BookShape
from execution_service.engine.prices import REFERENCE_PRICES, MarketPrices, round_price
from tests.paper import T0, free, locked, make_exchange, order, submit, tape

BUY, SELL = Side.BUY, Side.SELL


def priced(balances: dict[str, str] | None = None, price: str = "90000", **kwargs: object):  # type: ignore[no-untyped-def]
    live = make_exchange(balances, **kwargs)  # type: ignore[arg-type]
    tape(live, price, quantity=None)
    return live


def test_the_book_is_deeper_away_from_the_price_as_the_square_root_law_says() -> None:
    books = SyntheticBooks(BookShape())
    filters = DEFAULT_FILTERS["BTCUSDT"]
    walk = books.walk("BTCUSDT", BUY, Decimal(90000), filters, Decimal(1000))
    levels = walk.taken
    assert [price for _, _, price in levels[:3]] == [Decimal("90009.00"), Decimal("90018.00"),
                                                     Decimal("90027.00")]
    assert [quantity for _, quantity, _ in levels[:2]] == [Decimal("0.11110"), Decimal("0.33326")]
    assert walk.notional < Decimal("25000000") <= walk.notional + 3000  # 50 levels hold 25 M
    assert walk.quantity < 1000  # the rest of an order this size finds no book


def test_buy_fills_at_the_best_ask_and_pays_the_taker_fee_in_quote() -> None:
    live = priced({"USDT": "1000"})
    result = submit(live, order(BUY, "0.001"))
    filled = result.order
    assert filled.status is OrderStatus.FILLED
    assert filled.avg_fill_price == Decimal("90009.00")
    assert filled.slippage_bps == Decimal("1.0000")
    assert filled.fee == Decimal("0.09000900")
    assert free(live, "USDT") == Decimal("1000") - Decimal("90.009") - Decimal("0.090009")
    assert free(live, "BTC") == Decimal("0.001")
    assert filled.order_id.startswith("MOCK_")
    assert len(filled.order_id) == 5 + 32
    assert [type(event).__name__ for event in live.end().history] == [
        "Received", "Accepted", "Filled"]
    assert result.event_id == f"{filled.order_id}:2"


def test_a_larger_market_order_walks_two_levels_at_their_average() -> None:
    live = priced({"USDT": "100000"})
    filled = submit(live, order(BUY, "0.2")).order
    # 0.11110 @ 90009 + 0.08890 @ 90018 = 18002.6001 for 0.2: 90013.0005 on average
    assert filled.avg_fill_price == Decimal("90013.0005")
    assert filled.fee == Decimal("18.00260010")
    assert free(live, "USDT") == Decimal(100000) - Decimal("18002.6001") - Decimal("18.0026001")
    # One trade per level, each with its own fee and slippage, as Binance's `fills`.
    trades = live.end().trades
    assert [(t.quantity, t.price, t.fee, t.slippage_bps) for t in trades] == [
        (Decimal("0.11110"), Decimal("90009.00"), Decimal("9.99999990"), Decimal("1.0000")),
        (Decimal("0.08890"), Decimal("90018.00"), Decimal("8.00260020"), Decimal("2.0000"))]
    assert filled.slippage_bps == Decimal("1.4445")  # of the average price


def test_each_account_trades_its_own_balances() -> None:
    live = priced({"USDT": "1000"}, accounts=("default", "bot-a"))
    bought = submit(live, replace(order(BUY, "0.01"), account="bot-a")).order
    assert bought.status is OrderStatus.FILLED
    assert bought.account == "bot-a"
    assert live.account("bot-a").free("BTC") == Decimal("0.01")
    assert live.account("bot-a").free("USDT") < 200
    assert live.account().balances() == {"USDT": Amounts(Decimal(1000))}  # untouched
    # The default account cannot sell what bot-a holds; bot-a can.
    assert submit(live, order(SELL, "0.01")).order.error_code is ErrorCode.INSUFFICIENT_BALANCE
    assert submit(live, replace(order(SELL, "0.01"), account="bot-a")).order.status \
        is OrderStatus.FILLED
    effects = live.end()
    assert {(c.account, c.asset) for c in effects.balances} == {("bot-a", "USDT"),
                                                                ("bot-a", "BTC")}
    assert [(p.position.account, p.position.symbol) for p in effects.positions] == [
        ("bot-a", "BTCUSDT")]
    assert {t.account for t in effects.trades} == {"bot-a"}


def test_an_order_for_an_account_not_configured_is_rejected() -> None:
    live = priced({"USDT": "1000"})
    rejected = submit(live, replace(order(BUY, "0.001"), account="nobody")).order
    assert rejected.status is OrderStatus.REJECTED
    assert rejected.error_code is ErrorCode.UNKNOWN_ACCOUNT
    assert rejected.error_message == "unknown account 'nobody'"


def test_what_this_service_took_from_a_level_is_not_there_for_the_next_order() -> None:
    live = priced({"USDT": "100000"})
    first = submit(live, order(BUY, "0.1")).order
    second = submit(live, order(BUY, "0.0111")).order  # the 0.11110 of level 0, all taken
    assert first.avg_fill_price == second.avg_fill_price == Decimal("90009.00")
    third = submit(live, order(BUY, "0.001")).order
    assert third.avg_fill_price == Decimal("90018.00")  # level 0 is used up
    tape(live, "90000", quantity=None, when=T0)  # same price: the book is not refilled
    assert submit(live, order(BUY, "0.001")).order.avg_fill_price == Decimal("90018.00")
    tape(live, "90000.01", quantity=None)  # the price moved: a fresh book
    # 90000.01 + 1 bp = 90009.010001, up to the next tick
    assert submit(live, order(BUY, "0.001")).order.avg_fill_price == Decimal("90009.02")


def test_the_book_shown_is_what_the_next_order_would_meet_and_reading_it_changes_nothing() -> None:
    live = priced({"USDT": "100000"})
    submit(live, order(BUY, "0.1"))  # 0.1 of level 0's 0.11110 at 90009
    shown = live.book("BTCUSDT", 2)
    assert shown is not None
    bids, asks = shown
    # Level 1 holds 40,000 - 10,000 USDT (depth grows with the offset squared): 0.33326 BTC.
    assert [(level.price, level.quantity) for level in asks] == [
        (Decimal("90009.00"), Decimal("0.01110")), (Decimal("90018.00"), Decimal("0.33326"))]
    assert bids[0].price == Decimal("89991.00")  # the other side untouched, 1 bp below
    assert live.book("BTCUSDT", 2) == shown  # reading it moved no price, refilled nothing
    assert submit(live, order(BUY, "0.0111")).order.avg_fill_price == Decimal("90009.00")
    assert live.book("NEVERPRICED", 2) is None


def test_sell_walks_the_bids_below_the_price() -> None:
    live = priced({"BTC": "1"})
    filled = submit(live, order(SELL, "0.01")).order
    assert filled.avg_fill_price == Decimal("89991.00")  # 90000 - 1 bp, on the tick
    assert free(live, "USDT") == Decimal("899.91") - Decimal("0.89991")
    assert free(live, "BTC") == Decimal("0.99")


def test_sell_without_the_base_asset_is_insufficient_balance() -> None:
    rejected = submit(priced({"USDT": "1000000"}), order(SELL, "1")).order
    assert rejected.error_code is ErrorCode.INSUFFICIENT_BALANCE
    assert "BTC" in (rejected.error_message or "")


def test_buy_beyond_the_quote_balance_is_insufficient_balance_and_changes_nothing() -> None:
    live = priced({"USDT": "1000"})
    rejected = submit(live, order(BUY, "2")).order
    assert rejected.error_code is ErrorCode.INSUFFICIENT_BALANCE
    assert free(live, "USDT") == 1000


def test_exactly_enough_quote_balance_fills() -> None:
    live = priced({"USDT": "90.099009"})  # 90.009 + fee 0.090009
    assert submit(live, order(BUY, "0.001")).order.status is OrderStatus.FILLED
    assert free(live, "USDT") == 0


def test_unknown_symbol_is_rejected_until_market_data_prices_it() -> None:
    live = make_exchange({"USDT": "1000"})
    assert submit(live, order(BUY, "1", symbol="FOOUSDT")).order.error_code is \
        ErrorCode.UNKNOWN_SYMBOL
    tape(live, "2.5", symbol="FOOUSDT", quantity=None)
    assert submit(live, order(BUY, "10", symbol="FOOUSDT")).order.status is OrderStatus.FILLED


def test_symbol_without_known_quote_asset_is_unknown() -> None:
    assert split_symbol("ABCXYZ") is None
    rejected = submit(make_exchange(), order(BUY, "1", symbol="ABCXYZ")).order
    assert rejected.error_code is ErrorCode.UNKNOWN_SYMBOL


def test_kill_switch_rejects_before_anything_else() -> None:
    rejected = submit(make_exchange(), order(BUY, "0.001"), halted="risk limit").order
    assert rejected.error_code is ErrorCode.KILL_SWITCH
    assert "risk limit" in (rejected.error_message or "")


def test_mock_success_rate_rejects_about_that_share() -> None:
    live = make_exchange({"USDT": "1000000000"}, success_rate=0.95)
    codes = [submit(live, order(BUY, "0.0001")).order.error_code for _ in range(4000)]
    rejected = codes.count(ErrorCode.MOCK_REJECTION)
    assert 120 <= rejected <= 280  # 5 % of 4000 = 200; bounds are > 5 standard deviations


@pytest.mark.parametrize("rate", [0.0, 1.0])
def test_mock_success_rate_extremes(rate: float) -> None:
    live = make_exchange({"USDT": "1000000000"}, success_rate=rate)
    statuses = {submit(live, order(BUY, "0.0001")).order.status for _ in range(50)}
    assert statuses == ({OrderStatus.FILLED} if rate == 1.0 else {OrderStatus.REJECTED})


def test_same_seed_same_ids_prices_and_fills() -> None:
    def run(seed: int = 42) -> list[tuple[str, Decimal | None, OrderStatus]]:
        live = make_exchange({"USDT": "1000000"}, seed=seed, success_rate=0.9)
        orders = [submit(live, order(BUY, "0.01", symbol=s)).order
                  for s in ["BTCUSDT", "ETHUSDT", "SOLUSDT"] * 20]
        return [(o.order_id, o.avg_fill_price, o.status) for o in orders]

    assert run() == run()
    assert run(seed=43) != run()


@pytest.mark.parametrize(("quantity", "price", "failure"), [
    ("0.000001", None, "Filter failure: LOT_SIZE"),  # below the minimum quantity
    ("0.000015", None, "Filter failure: LOT_SIZE"),  # off the 0.00001 step
    ("10000", None, "Filter failure: LOT_SIZE"),  # above the maximum quantity
    ("0.00005", None, "Filter failure: MIN_NOTIONAL"),  # 4.50 USDT < 5
    ("0.001", "90000.005", "Filter failure: PRICE_FILTER"),  # off the 0.01 tick
])
def test_exchange_filters_reject_with_the_exchange_text(
        quantity: str, price: str | None, failure: str) -> None:
    live = priced({"USDT": "10000000"})
    kind = OrderType.LIMIT if price else OrderType.MARKET
    rejected = submit(live, order(BUY, quantity, kind, price=price)).order
    assert (rejected.status, rejected.error_code, rejected.error_message) == (
        OrderStatus.REJECTED, ErrorCode.FILTER_FAILURE, failure)


def test_quantity_rounding_down_sizes_float_quantities_to_the_step() -> None:
    live = priced({"USDT": "1000"}, round_down=True)
    filled = submit(live, order(BUY, "0.00039603960396039607")).order
    assert filled.status is OrderStatus.FILLED
    assert filled.quantity == filled.filled_quantity == Decimal("0.00039")  # BTCUSDT step 0.00001
    assert filled.metadata["requested_quantity"] == Decimal("0.00039603960396039607")
    result = codec.order_result(filled, 0)
    assert (result["quantity"], result["requested_quantity"]) == (
        Decimal("0.00039"), Decimal("0.00039603960396039607"))
    assert submit(live, order(BUY, "0.000009")).order.error_message == "Filter failure: LOT_SIZE"


def test_quantity_on_the_step_is_not_marked_as_rounded() -> None:
    live = priced({"USDT": "1000"}, round_down=True)
    filled = submit(live, order(BUY, "0.00100")).order
    assert "requested_quantity" not in filled.metadata
    assert "requested_quantity" not in codec.order_result(filled, 0)


def test_strict_quantities_keep_binance_refusals() -> None:
    live = priced({"USDT": "1000"})
    too_fine = submit(live, order(BUY, "0.00039603960396039607")).order
    assert (too_fine.status, too_fine.error_code, too_fine.error_message) == (
        OrderStatus.REJECTED, ErrorCode.INVALID_ORDER,
        "Precision is over the maximum defined for this asset.")
    off_step = submit(live, order(BUY, "0.00123456")).order
    assert off_step.error_message == "Filter failure: LOT_SIZE"


def test_order_value_beyond_the_limit_is_invalid() -> None:
    live = priced({"USDT": "1"}, price="1")
    live.filters._filters["BTCUSDT"] = DEFAULT_FILTERS["BTCUSDT"].__class__(  # no maximum
        tick_size=Decimal("0.01"), step_size=Decimal("0.00001"), min_qty=Decimal("0.00001"),
        max_qty=Decimal(0), min_notional=Decimal(5))
    rejected = submit(live, order(BUY, "1000000000000", OrderType.LIMIT, price="1000000")).order
    assert rejected.error_code is ErrorCode.INVALID_ORDER
    assert "exceeds" in (rejected.error_message or "")


def test_large_amounts_stay_exact_beyond_28_digits() -> None:
    live = make_exchange({"USDT": "1e15"}, shape=BookShape(impact_bps=Decimal(0)))  # no depth limit
    tape(live, "3000.12", symbol="ETHUSDT", quantity=None)
    quantity = Decimal("123456789.1234")  # on the 0.0001 step
    live.filters._filters["ETHUSDT"] = DEFAULT_FILTERS["ETHUSDT"].__class__(
        tick_size=Decimal("0.01"), step_size=Decimal("0.0001"), min_qty=Decimal("0.0001"),
        max_qty=Decimal(0), min_notional=Decimal(5))
    filled = submit(live, order(BUY, str(quantity), symbol="ETHUSDT")).order
    assert filled.status is OrderStatus.FILLED
    notional = EXACT.multiply(quantity, filled.avg_fill_price or 0)
    assert free(live, "USDT") == EXACT.subtract(EXACT.subtract(Decimal("1e15"), notional),
                                                filled.fee)


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




orders = st.lists(st.tuples(st.sampled_from(["BTCUSDT", "ETHUSDT", "ETHBTC"]),
                            st.sampled_from([BUY, SELL]),
                            st.sampled_from([OrderType.MARKET, OrderType.LIMIT]),
                            st.integers(1, 300000), st.integers(-30, 30)),
                  min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(orders, st.integers(0, 2**32))
def test_accounting_balances_equal_initial_plus_fills_minus_fees(
    commands: list[tuple[str, Side, OrderType, int, int]], seed: int
) -> None:
    """Market and limit orders, filled at once or later by the tape, partially or not at all:
    free + locked of every asset is always initial + fills - fees, and never negative."""
    initial = {"USDT": Decimal(100000), "BTC": Decimal(1), "ETH": Decimal(10)}
    live = make_exchange({k: str(v) for k, v in initial.items()}, seed=seed, success_rate=0.9)
    rng = random.Random(seed)
    live.begin()
    for symbol, side, kind, steps, offset_bps in commands:
        mid = live.prices.quote(symbol, 0)
        assert mid is not None
        filters = live.filters.of(symbol, mid)
        quantity = max(filters.min_qty, filters.step_size * steps)
        price = filters.round_price(mid * (1 + Decimal(offset_bps) / 10000), up=False) \
            if kind is OrderType.LIMIT else None
        submit(live, order(side, str(quantity), kind, symbol=symbol,
                           price=str(price) if price else None))
        traded = mid * (1 + Decimal(rng.randint(-40, 40)) / 10000)
        live.on_trade(MarketTrade(symbol, round_price(traded), quantity * rng.randint(0, 3), 0),
                      T0)
    trades = live.end().trades
    expected = dict(initial)
    for trade in trades:
        pair = split_symbol(trade.symbol)
        assert pair is not None
        sign = 1 if trade.side is BUY else -1
        expected[pair.base] = expected.get(pair.base, Decimal(0)) + sign * trade.quantity
        expected[pair.quote] = (expected.get(pair.quote, Decimal(0)) - sign * trade.notional
                                - trade.fee)
    balances = live.account().balances()
    for asset in {*expected, *balances}:
        amounts = balances.get(asset)
        assert (amounts.total if amounts else 0) == expected.get(asset, Decimal(0))
        assert amounts is None or (amounts.free >= 0 and amounts.locked >= 0)
    reserved = {}
    for o in live.open_orders():
        reserved[o.reserved_asset] = reserved.get(o.reserved_asset, 0) + o.reserved
    for asset, amounts in balances.items():
        assert amounts.locked == reserved.get(asset, 0)


def test_the_walk_makes_synthetic_trades_only_for_waiting_orders_without_a_live_feed() -> None:
    live = make_exchange({"USDT": "100000"})
    assert live.synthetic_trades(Decimal(10000), T0) == []  # nothing waits
    submit(live, order(BUY, "0.01", OrderType.LIMIT, price="80000.00"))
    submit(live, order(BUY, "1", OrderType.LIMIT, symbol="ETHUSDT", price="2000.00"))
    tape(live, "3000.00", symbol="ETHUSDT", quantity="1")  # ETH has a live feed
    [synthetic] = live.synthetic_trades(Decimal(9000), T0)
    assert (synthetic.symbol, synthetic.synthetic) == ("BTCUSDT", True)
    assert synthetic.quantity == (Decimal(9000) / synthetic.price).quantize(
        Decimal("1e-8"), rounding="ROUND_DOWN")
    live.on_trade(synthetic, T0)
    assert not live.prices.is_live("BTCUSDT", 0)  # the walk stays the walk


def test_under_binances_rules_a_buy_pays_its_commission_in_the_base_asset() -> None:
    """An order from Binance's API: a buy's commission is taken from the base asset it
    receives, taker now and maker later; the position holds what was received and counts
    the commission among its fees at the fill's price. A sell's stays in the quote asset."""
    live = priced({"USDT": "100000"})
    taker = submit(live, replace(order(BUY, "0.1"), binance_rules=True)).order
    assert (taker.fee_asset, taker.fee) == ("BTC", Decimal("0.0001"))
    assert free(live, "BTC") == Decimal("0.0999")
    assert free(live, "USDT") == Decimal(100000) - taker.avg_fill_price * Decimal("0.1")  # type: ignore[operator]
    resting = submit(live, replace(order(BUY, "0.2", OrderType.LIMIT, price="89000"),
                                   binance_rules=True)).order
    assert locked(live, "USDT") == Decimal("17800.00000000")  # no commission to lock
    tape(live, "88990", "1")
    assert (resting.status, resting.fee_asset, resting.fee) == (
        OrderStatus.FILLED, "BTC", Decimal("0.0002"))
    assert free(live, "BTC") == Decimal("0.2997")
    position = live.positions.get("BTCUSDT")
    assert position is not None
    assert position.quantity == Decimal("0.2997")
    assert position.fees == Decimal("0.0001") * taker.avg_fill_price + Decimal("0.0002") * 89000  # type: ignore[operator]
    sold = submit(live, replace(order(SELL, "0.1"), binance_rules=True)).order
    assert sold.fee_asset == "USDT"


def test_the_pipelines_orders_pay_their_commission_in_the_quote_asset() -> None:
    live = priced({"USDT": "100000"})
    bought = submit(live, order(BUY, "0.1")).order
    assert bought.fee_asset == "USDT"
    assert free(live, "BTC") == Decimal("0.1")


def oco(live: PaperExchange, above: SubmitOrder, below: SubmitOrder) -> list[Order]:
    results = live.submit_list((above, below), Intake(Source.REST, None, T0))
    return [result.order for result in results]


def test_an_oco_order_that_executes_expires_the_other() -> None:
    """A sell OCO: a limit maker above the price, a stop loss below. The tape through the
    limit fills it (as maker) and expires the stop; a second list, the tape down through
    the stop triggers it and expires the limit."""
    live = priced({"BTC": "2"})
    above, below = oco(live, order(SELL, "0.5", OrderType.LIMIT_MAKER, price="91000"),
                       order(SELL, "0.5", OrderType.STOP_LOSS, stop="89000"))
    assert (above.status, below.status) == (OrderStatus.NEW, OrderStatus.NEW)
    assert above.list_ref == below.list_ref == above.order_id
    tape(live, "91010", "1")
    assert (above.status, below.status) == (OrderStatus.FILLED, OrderStatus.EXPIRED)
    assert below.error_message is None  # (expired, not refused)
    assert locked(live, "BTC") == 0  # the stop's reservation went back

    limit, stop = oco(live, order(SELL, "0.5", OrderType.LIMIT_MAKER, price="95000"),
                      order(SELL, "0.5", OrderType.STOP_LOSS, stop="89000"))
    tape(live, "88990", "1")
    assert (stop.status, limit.status) == (OrderStatus.FILLED, OrderStatus.EXPIRED)
    assert locked(live, "BTC") == 0


def test_cancelling_one_order_of_an_oco_cancels_both_and_a_refused_one_refuses_both() -> None:
    live = priced({"BTC": "2"})
    above, below = oco(live, order(SELL, "0.5", OrderType.LIMIT_MAKER, price="91000"),
                       order(SELL, "0.5", OrderType.STOP_LOSS, stop="89000"))
    live.cancel(below.order_id, T0)
    assert (above.status, below.status) == (OrderStatus.CANCELED, OrderStatus.CANCELED)
    # A limit maker below the price would take: refused, and so the stop with it.
    taking, stop = oco(live, order(SELL, "0.5", OrderType.LIMIT_MAKER, price="80000"),
                       order(SELL, "0.5", OrderType.STOP_LOSS, stop="79000"))
    assert (taking.status, taking.error_code) == (OrderStatus.REJECTED, ErrorCode.WOULD_TAKE)
    assert (stop.status, stop.error_code) == (OrderStatus.REJECTED, ErrorCode.WOULD_TAKE)
    assert stop.error_message.startswith("another order of its list was refused")  # type: ignore[union-attr]
    assert locked(live, "BTC") == 0


def oto(live: PaperExchange, working: SubmitOrder, *pending: SubmitOrder) -> list[Order]:
    results = live.submit_list((working, *pending), Intake(Source.REST, None, T0),
                               pending=len(pending))
    return [result.order for result in results]


def test_an_otos_pending_order_waits_off_the_book_until_the_working_order_fills() -> None:
    """A buy limit below the price, then a sell limit maker above it: the sell waits,
    PENDING_NEW and locking nothing, while the tape trades through its price; once the buy
    fills, it is placed (and locks the BTC bought) and fills from the tape."""
    live = priced({"USDT": "100000"})
    working, pending = oto(live, order(BUY, "0.5", OrderType.LIMIT, price="89000"),
                           order(SELL, "0.5", OrderType.LIMIT_MAKER, price="91000"))
    assert (working.status, pending.status) == (OrderStatus.NEW, OrderStatus.PENDING_NEW)
    assert pending.waits_for == working.order_id == pending.list_ref
    assert locked(live, "BTC") == 0
    tape(live, "91010", "1")  # through the pending order's price: nothing happens
    assert (working.status, pending.status) == (OrderStatus.NEW, OrderStatus.PENDING_NEW)
    tape(live, "88990", "1")
    assert (working.status, pending.status) == (OrderStatus.FILLED, OrderStatus.NEW)
    assert locked(live, "BTC") == Decimal("0.5")
    tape(live, "91010", "1")
    assert pending.status is OrderStatus.FILLED
    assert (locked(live, "BTC"), locked(live, "USDT")) == (0, 0)


def test_an_otocos_pending_pair_is_an_oco_once_placed() -> None:
    live = priced({"USDT": "100000"})
    working, take, stop = oto(live, order(BUY, "0.5", OrderType.LIMIT, price="89000"),
                              order(SELL, "0.5", OrderType.LIMIT_MAKER, price="95000"),
                              order(SELL, "0.5", OrderType.STOP_LOSS, stop="85000"))
    assert [o.status for o in (working, take, stop)] == [
        OrderStatus.NEW, OrderStatus.PENDING_NEW, OrderStatus.PENDING_NEW]
    tape(live, "88990", "1")
    assert [o.status for o in (working, take, stop)] == [
        OrderStatus.FILLED, OrderStatus.NEW, OrderStatus.NEW]
    assert locked(live, "BTC") == Decimal("0.5")  # locked once for the pair
    tape(live, "84990", "1")
    assert [o.status for o in (take, stop)] == [OrderStatus.EXPIRED, OrderStatus.FILLED]
    assert locked(live, "BTC") == 0


def test_an_oto_ends_together_when_either_order_is_cancelled_or_the_working_one_expires() -> None:
    live = priced({"USDT": "100000"})
    for cancelled in (0, 1):
        orders = oto(live, order(BUY, "0.1", OrderType.LIMIT, price="89000"),
                     order(SELL, "0.1", OrderType.LIMIT_MAKER, price="91000"))
        live.cancel(orders[cancelled].order_id, T0)
        assert [o.status for o in orders] == [OrderStatus.CANCELED, OrderStatus.CANCELED]
    unfilled, pending = oto(live, order(BUY, "0.1", OrderType.LIMIT, price="89000",
                                        tif=TimeInForce.IOC),
                            order(SELL, "0.1", OrderType.LIMIT_MAKER, price="91000"))
    assert (unfilled.status, pending.status) == (OrderStatus.EXPIRED, OrderStatus.EXPIRED)
    assert (locked(live, "USDT"), live.open_orders()) == (0, [])


def test_an_oto_is_refused_whole_for_a_pending_order_off_the_rules_or_an_unpaid_working_one(
) -> None:
    live = priced({"USDT": "100000"})
    working, off_step = oto(live, order(BUY, "0.1", OrderType.LIMIT, price="89000"),
                            order(SELL, "0.1000001", OrderType.LIMIT_MAKER, price="91000"))
    assert (off_step.status, off_step.error_code) == (OrderStatus.REJECTED,
                                                      ErrorCode.FILTER_FAILURE)
    assert (working.status, working.error_code) == (OrderStatus.REJECTED,
                                                    ErrorCode.FILTER_FAILURE)
    unpaid, pending = oto(live, order(BUY, "5", OrderType.LIMIT, price="89000"),
                          order(SELL, "5", OrderType.LIMIT_MAKER, price="91000"))
    assert (unpaid.error_code, pending.status, pending.error_code) == (
        ErrorCode.INSUFFICIENT_BALANCE, OrderStatus.REJECTED, ErrorCode.INSUFFICIENT_BALANCE)
    assert (locked(live, "USDT"), live.open_orders()) == (0, [])


def test_a_pending_order_reloaded_from_the_database_stays_off_the_book() -> None:
    live = priced({"USDT": "100000"})
    working, pending = oto(live, order(BUY, "0.5", OrderType.LIMIT, price="89000"),
                           order(SELL, "0.5", OrderType.LIMIT_MAKER, price="91000"))
    balances = {("default", "USDT"): Amounts(Decimal("100000") - working.reserved,
                                              working.reserved)}
    live.load(balances, [], [replace(working), replace(pending)])
    tape(live, "91010", "1")
    assert {o.order_id: o.status for o in live.open_orders()} == {
        working.order_id: OrderStatus.NEW, pending.order_id: OrderStatus.PENDING_NEW}
    tape(live, "88990", "1")
    tape(live, "91010", "1")
    assert live.open_orders() == []


def test_an_oco_locks_its_quantity_once() -> None:
    """Both orders of a sell OCO sell the same BTC: with exactly that much, the list is
    accepted (Binance locks it once), and whichever executes is paid for."""
    live = priced({"BTC": "0.5"})
    above, below = oco(live, order(SELL, "0.5", OrderType.LIMIT_MAKER, price="95000"),
                       order(SELL, "0.5", OrderType.STOP_LOSS, stop="89000"))
    assert (above.status, below.status) == (OrderStatus.NEW, OrderStatus.NEW)
    assert (locked(live, "BTC"), free(live, "BTC")) == (Decimal("0.5"), 0)
    tape(live, "88990", "1")  # the stop (which locked nothing itself) sells the 0.5
    assert (below.status, above.status) == (OrderStatus.FILLED, OrderStatus.EXPIRED)
    assert (locked(live, "BTC"), free(live, "BTC")) == (0, 0)
    assert free(live, "USDT") > 40_000
