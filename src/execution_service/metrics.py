"""Every Prometheus collector of the service, registered on a registry it is given."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0015, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                     0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


class Metrics:
    """The collectors; names follow the Prometheus conventions (SPEC 7)."""

    def __init__(self, registry: CollectorRegistry, started: float | None = None) -> None:
        self.registry = registry
        self.started = started if started is not None else time.time()
        self.orders_received = Counter(
            "execution_orders_received", "Orders received, each once (by the intake of its "
            "first copy); filled / received is the fill ratio per order", ["source"],
            registry=registry)
        self.order_messages = Counter(
            "execution_order_messages", "Order messages read, every copy of an order counted",
            ["source"], registry=registry)
        self.orders_filled = Counter(
            "execution_orders_filled", "Orders filled", registry=registry)
        self.orders_rejected = Counter(
            "execution_orders_rejected", "Orders rejected, by error code", ["reason"],
            registry=registry)
        self.duplicates = Counter(
            "execution_duplicates", "Orders received again under a known client_id or entry",
            registry=registry)
        self.write_conflicts = Counter(
            "execution_write_conflicts", "Batches run again because another instance wrote "
            "first (a balance, an order, a client_id)", registry=registry)
        self.illegal_transitions = Counter(
            "execution_illegal_transitions", "Order status changes the state machine refused",
            registry=registry)
        self.tape_dropped = Counter(
            "execution_tape_dropped", "Market-data trades dropped while the pipeline was behind "
            "(TAPE_BUFFER full)", registry=registry)
        self.order_latency = Histogram(
            "execution_order_latency_seconds", "Intake to result published",
            buckets=LATENCY_BUCKETS_S, registry=registry)
        self.batch_size = Histogram(
            "execution_batch_size", "Commands per committed batch", buckets=BATCH_BUCKETS,
            registry=registry)
        self.batch_phase = Histogram(
            "execution_batch_phase_seconds", "Duration of a batch's phase (read, plan, commit, "
            "publish: pipeline/timing.py), by batch size", ["phase", "size"],
            buckets=LATENCY_BUCKETS_S, registry=registry)
        self.db_commit = Histogram(
            "execution_db_commit_seconds", "Duration of one batch transaction",
            buckets=LATENCY_BUCKETS_S, registry=registry)
        self.http_refused = Counter(
            "execution_http_refused", "HTTP connections and requests refused by a bound: "
            "busy (HTTP_MAX_CONNECTIONS), head_timeout (HTTP_HEAD_TIMEOUT_S), weight "
            "(Binance's request weight per minute), viewers (EVENTS_MAX_VIEWERS)", ["reason"],
            registry=registry)
        self.event_viewers = Gauge(
            "execution_event_viewers", "Open dashboard event streams (/events)",
            registry=registry)
        self.stream_listeners = Gauge(
            "execution_stream_listeners",
            "Open Binance WebSocket sockets (/ws, /stream, /ws-api/v3)", registry=registry)
        self.intake_pending = Gauge(
            "execution_intake_pending", "Entries delivered to the consumer group, not acknowledged",
            registry=registry)
        self.outbox_unsent = Gauge(
            "execution_outbox_unsent", "Committed results not yet published", registry=registry)
        self.redis_connected = Gauge(
            "execution_redis_connected", "1 while Redis answers", registry=registry)
        self.db_connected = Gauge(
            "execution_db_connected", "1 while the database answers", registry=registry)
        self.uptime = Gauge(
            "execution_uptime_seconds", "Seconds since the service started", registry=registry)
        self.uptime.set_function(lambda: time.time() - self.started)
