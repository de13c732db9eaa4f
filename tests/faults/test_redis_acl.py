"""Redis locked down as the README's trust model says: ACL users per service (the default
user off), the service as user `execution` with only its keys, channels and commands; the
risk manager as `risk`, who can send orders and nothing else; a reader of the results as
`reader`. Orders go through; what each other user tries beyond its part is refused."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import redis

from tests.faults.servers import private_redis
from tests.helpers import Names, wait_for_sync
from tests.processes import starter

EXECUTION, RISK, READER = "execution-secret", "risk-secret", "reader-secret"


def acl_file(names: Names, group: str) -> str:
    """The README's ACL users, for this test's names (the README shows the defaults)."""
    service_keys = " ".join(f"~{key}" for key in (
        names.orders_stream, names.fills_stream, names.control_stream, names.journal_stream,
        f"{group}:*"))
    service_channels = " ".join(f"&{channel}" for channel in (
        names.orders_channel, names.results_channel, names.market_data_channel,
        f"{names.journal_stream}:sync:*"))
    return "\n".join([
        "user default off",
        f"user execution on >{EXECUTION} resetkeys {service_keys} resetchannels "
        f"{service_channels} -@all +@read +@write +@stream +@pubsub +@scripting +@connection "
        "+@keyspace -@dangerous +info",
        f"user risk on >{RISK} resetkeys ~{names.orders_stream} resetchannels "
        f"&{names.orders_channel} -@all +@connection +publish +xadd",
        f"user reader on >{READER} resetkeys ~{names.fills_stream} resetchannels "
        f"&{names.results_channel} -@all +@connection +subscribe +xread +xrange +xrevrange",
        ""])


def test_with_acl_users_orders_go_through_and_other_users_are_kept_to_their_part(
        workdir: Path, pg_url: str) -> None:
    names = Names.new()
    env = names.env()
    (workdir / "redis").mkdir()
    (workdir / "users.acl").write_text(acl_file(names, env["CONSUMER_GROUP"]))
    with private_redis(workdir / "redis", aclfile=str(workdir / "users.acl")) as server, \
            starter({**env, "DATABASE_URL": pg_url, "MOCK_SUCCESS_RATE": "1",
                     "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(server.port),
                     "REDIS_USERNAME": "execution", "REDIS_PASSWORD": EXECUTION},
                    workdir, redis_url="") as start:  # (no REDIS_URL: the variables above)
        anonymous = redis.Redis(port=server.port)
        with pytest.raises(redis.AuthenticationError):
            anonymous.ping()
        service = start()
        service.wait_ready()
        status = service.get("/status").json()["redis"]
        assert status["refusing"] == {}

        risk = redis.Redis(port=server.port, username="risk", password=RISK)
        risk.xadd(names.orders_stream, {"symbol": "BTCUSDT", "side": "BUY",
                                        "quantity": "0.001", "client_id": "via-stream"})
        risk.publish(names.orders_channel, orjson.dumps(
            {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.001", "client_id": "via-pubsub"}))
        reader = redis.Redis(port=server.port, username="reader", password=READER)

        def filled() -> set[str]:
            return {fields[b"client_id"].decode() for _, fields in reader.xrange(names.fills_stream)
                    if fields.get(b"status") == b"FILLED"}

        wait_for_sync(lambda: filled() == {"via-stream", "via-pubsub"}, timeout_s=20,
                      what="both orders filled and their results readable by the reader")

        for refused in (
            lambda: risk.xadd(names.control_stream, {"reason": "not the risk manager's"}),
            lambda: risk.xrange(names.fills_stream),
            lambda: risk.publish(names.results_channel, b"a forged result"),
            lambda: reader.xadd(names.orders_stream, {"symbol": "BTCUSDT"}),
            lambda: reader.xgroup_destroy(names.orders_stream, env["CONSUMER_GROUP"]),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                refused()
        assert service.alive()
        assert service.get("/kill-switch").json()["active"] is False
