"""Reading and checking a chat request body: size, JSON, nesting depth, and the fields optmod relies on.

Only what optmod reads is checked; every other field passes through to the provider untouched.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from optmod.errors import InvalidRequestError, RequestTooLargeError

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


async def read_json_body(request: Request, max_bytes: int, max_depth: int) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise RequestTooLargeError(f"request body is larger than the limit of {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise RequestTooLargeError(f"request body is larger than the limit of {max_bytes} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidRequestError("request body is empty; expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc.msg}") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("request body must be a JSON object")
    # Nesting can never exceed the opening brackets (counted in C); only a body with more of them is walked.
    if raw.count(b"{") + raw.count(b"[") > max_depth and _depth_exceeds(body, max_depth):
        raise InvalidRequestError(f"request body is nested deeper than {max_depth} levels")
    return body


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values() if isinstance(child, (dict, list)))
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))
    return False


def check_chat_body(body: dict[str, Any]) -> None:
    """The checks that make a request routable; each failure names the parameter."""
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise InvalidRequestError("'model' must be a string", param="model")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequestError("'stream' must be a boolean", param="stream")
    messages = body.get("messages")
    if messages is None:
        raise InvalidRequestError("'messages' is required", param="messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("'messages' must be a non-empty array", param="messages")
    for index, message in enumerate(messages):
        _check_message(message, index)
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise InvalidRequestError("'tools' must be an array", param="tools")
    for limit in ("max_tokens", "max_completion_tokens"):
        # Routing prices the answer by this limit: a negative one would make every model look free.
        value = body.get(limit)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise InvalidRequestError(f"'{limit}' must be a positive integer; got {value!r}", param=limit)


def _check_message(message: Any, index: int) -> None:
    param = f"messages[{index}]"
    if not isinstance(message, dict):
        raise InvalidRequestError(f"{param} must be an object", param=param)
    role = message.get("role")
    if role not in ROLES:
        raise InvalidRequestError(
            f"{param}.role must be one of {', '.join(sorted(ROLES))}; got {role!r}", param=f"{param}.role"
        )
    content = message.get("content")
    if content is not None and not isinstance(content, (str, list)):
        raise InvalidRequestError(f"{param}.content must be a string or an array", param=f"{param}.content")
    if isinstance(content, list):
        for part in content:
            if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                raise InvalidRequestError(
                    f"{param}.content parts must be objects with a 'type'", param=f"{param}.content"
                )
            if part["type"] == "text" and not isinstance(part.get("text"), str):
                raise InvalidRequestError(f"{param}.content text parts need a string 'text'", param=f"{param}.content")
