"""Security headers on every answer: `nosniff`, no framing, no referrer, and a Content
Security Policy. An API answer may load nothing; a page (the dashboard, the API's
documentation) may load only what this service serves, and run only its own inline scripts
and styles, each allowed by its hash (computed from the page as sent, so the policy cannot
drift from the page)."""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_COMMON = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
           (b"referrer-policy", b"no-referrer")]
_API_POLICY = b"default-src 'none'; frame-ancestors 'none'"
_PAGE_POLICY = ("default-src 'self'; script-src 'self'{scripts}; style-src 'self'{styles}; "
                "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
                "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_INLINE = re.compile(rb"<(script|style)(?:\s[^>]*)?>(.*?)</\1>", re.DOTALL | re.IGNORECASE)
_MAX_PAGE = 1 << 20  # pages are small; a larger HTML answer is sent with no inline allowed


class SecurityHeaders:
    """ASGI middleware adding the headers; an HTML page is held until complete to hash its
    inline blocks."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        start: Message | None = None
        page = bytearray()

        async def secured(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if _is_html(message):
                    start = message  # sent with the body, once its policy is known
                    return
                message["headers"] = [*message.get("headers", ()), *_COMMON,
                                      (b"content-security-policy", _API_POLICY)]
            elif start is not None and message["type"] == "http.response.body":
                page.extend(message.get("body", b""))
                if message.get("more_body") and len(page) <= _MAX_PAGE:
                    return
                start["headers"] = [*start.get("headers", ()), *_COMMON,
                                    (b"content-security-policy", page_policy(bytes(page)))]
                await send(start)
                message = {**message, "body": bytes(page)}
                start, page[:] = None, b""
            await send(message)

        await self._app(scope, receive, secured)


def _is_html(start: Message) -> bool:
    return any(name.lower() == b"content-type" and value.startswith(b"text/html")
               for name, value in start.get("headers", ()))


def page_policy(page: bytes) -> bytes:
    """The policy for `page`: its own inline scripts and styles allowed by their hashes."""
    hashes: dict[bytes, list[str]] = {b"script": [], b"style": []}
    if len(page) <= _MAX_PAGE:
        for kind, content in _INLINE.findall(page):
            if content.strip():
                digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
                hashes[kind.lower()].append(f" 'sha256-{digest}'")
    return _PAGE_POLICY.format(scripts="".join(hashes[b"script"]),
                               styles="".join(hashes[b"style"])).encode()
