"""The kill switch: engage (POST) and release (DELETE) with the bearer token; read (GET)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, HTTPException, Request

from execution_service.api.deps import Authorized, Context
from execution_service.api.responses import Answer
from execution_service.api.schemas import KillSwitchState, Unavailable, problems
from execution_service.bus.envelope import Envelope, Outcome
from execution_service.domain.commands import SetKillSwitch
from execution_service.domain.orders import Source

router = APIRouter(tags=["control"])


_CHANGES = {**problems(401, 403), 503: {"model": Unavailable}}


@router.get("/kill-switch", response_model=KillSwitchState)
async def get_kill_switch(context: Context) -> Answer[KillSwitchState]:
    return Answer(context.exchange.kill_switch.as_dict())


@router.post("/kill-switch", dependencies=[Authorized], response_model=KillSwitchState,
             responses={**_CHANGES, **problems(422)},
             openapi_extra={"requestBody": {"required": False, "content": {
                 "application/json": {"schema": {"type": "object", "properties": {
                     "reason": {"type": ["string", "null"],
                                "description": "shown with the state; its first 200 characters"},
                 }}}}}})
async def engage(context: Context, request: Request) -> Answer[KillSwitchState]:
    """Reject every new order with KILL_SWITCH until released. Body: optional {"reason": "..."}."""
    reason = _reason(await request.body()) or "engaged through POST /kill-switch"
    return await _set(context, SetKillSwitch(active=True, reason=reason))


@router.delete("/kill-switch", dependencies=[Authorized], response_model=KillSwitchState,
               responses=_CHANGES)
async def release(context: Context) -> Answer[KillSwitchState]:
    """Accept orders again."""
    return await _set(context, SetKillSwitch(active=False, reason="released"))


async def _set(context: Context, command: SetKillSwitch) -> Answer[KillSwitchState]:
    envelope = Envelope(source=Source.CONTROL, received_at=context.clock.now(), command=command)
    reply = await context.gateway.submit(envelope)
    return Answer.relayed(reply.body, 200 if reply.outcome is Outcome.OK else 503)


def _reason(body: bytes) -> str | None:
    """The body's `reason`, if it gives one; a body that is not a JSON object, or a reason
    that is not text, is refused (422)."""
    try:
        document = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError:
        raise HTTPException(422, "the body must be a JSON object like {\"reason\": \"...\"}") from None
    reason = document.get("reason") if isinstance(document, dict) else 0
    if reason is not None and not isinstance(reason, str):
        raise HTTPException(422, "the body must be a JSON object like {\"reason\": \"...\"}")
    return reason[:200] if reason else None
