"""JSON-RPC 2.0 codec and dispatcher, transport-free.

Bytes go in (:meth:`Dispatcher.handle_frame`), bytes come out; the transport
only moves frames.  The dispatcher validates the envelope (−32700 parse error,
−32600 invalid request), looks up the method (−32601), validates params with
the method's pydantic model (−32602 with pydantic's error list as ``data``),
calls the handler, and maps :class:`ExecutiveError` to its code from
``kernel/errors.py``.  Any other exception is an internal error whose details
stay in the daemon log (never on the wire).

Batches run their calls concurrently and answer with one array (notifications
omitted; an all-notification batch gets no reply).  Each call runs with the
request id bound in structlog's context, so every log line it causes carries it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import itertools
from collections.abc import Callable
from typing import Any

import orjson
import pydantic
import structlog
from typing_extensions import TypedDict

from executive.kernel.errors import ErrorCode, ExecutiveError
from executive.kernel.limits import nested_deeper_than

__all__ = ["Dispatcher", "Method", "MethodDescription", "encode", "error_response", "notification"]

log = structlog.get_logger("executive.rpc")
_request_counter = itertools.count(1)

Handler = Callable[[Any, Any], Any]  # (context, params model) -> result or awaitable


@dataclasses.dataclass(frozen=True, slots=True)
class Method:
    """One JSON-RPC method: its params model, the type of its result, and the handler.

    ``result`` is a type pydantic can describe (a TypedDict from
    ``executive.service.results``, a list of one, a union); it is never used to
    build or check a reply at run time, only to publish the reply's JSON Schema
    (:meth:`Dispatcher.describe`) and to validate replies in the tests.
    """

    name: str
    params: type[pydantic.BaseModel]
    result: Any
    handler: Handler
    doc: str = ""

    def result_schema(self) -> dict[str, Any]:
        """The JSON Schema of this method's result."""
        return _result_adapter(self.result).json_schema()


class MethodDescription(TypedDict):
    """One entry of ``rpc.discover``."""

    name: str
    doc: str
    params: dict[str, Any]
    result: dict[str, Any]


@functools.cache
def _result_adapter(tp: Any) -> pydantic.TypeAdapter[Any]:
    return pydantic.TypeAdapter(tp)


def encode(obj: Any) -> bytes:
    return orjson.dumps(obj)


def notification(method: str, params: Any) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "method": method, "params": params})


_MAX_ERRORS = 20  # validation errors listed in one -32602 reply
_ECHO_CHARS = 120  # characters of client text (a method name, a field name) one error reply may quote


def _clip(text: str) -> str:
    """``text`` shortened to :data:`_ECHO_CHARS` so an error reply never grows with the input it names."""
    return text if len(text) <= _ECHO_CHARS else f"{text[:_ECHO_CHARS]}… ({len(text)} characters)"


def _validation_detail(exc: pydantic.ValidationError) -> list[dict[str, Any]]:
    """Pydantic's error list without the input, with client-chosen field names and messages clipped."""
    out: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False)[:_MAX_ERRORS]:
        loc = [_clip(p) if isinstance(p, str) else p for p in err.get("loc", ())]
        out.append({"type": err.get("type"), "loc": loc, "msg": _clip(str(err.get("msg", "invalid")))})
    return out


def _encode_reply(reply: dict[str, Any]) -> bytes:
    """``reply`` encoded, or a short -32603 error in its place when it cannot be, so every request is answered."""
    try:
        return orjson.dumps(reply)
    except (TypeError, orjson.JSONEncodeError) as exc:
        log.error("reply_not_encodable", error=str(exc)[:200])
        return orjson.dumps(
            error_response(
                reply.get("id"), ErrorCode.INTERNAL_ERROR, "internal error: the reply could not be encoded as JSON"
            )
        )


def error_response(req_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": req_id, "error": err}


class Dispatcher:
    """Maps method names to handlers; one per daemon, shared by all connections."""

    def __init__(self, methods: list[Method], *, max_batch: int = 100, max_depth: int = 64) -> None:
        self.methods = {m.name: m for m in methods}
        self.max_batch = max_batch
        self.max_depth = max_depth  # nesting of arrays/objects in one request's params

    async def handle_frame(self, frame: bytes | str, ctx: Any) -> bytes | None:
        """Answer one frame (a request, a notification or a batch); None when nothing is owed."""
        try:
            msg = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            return encode(
                error_response(
                    None,
                    ErrorCode.PARSE_ERROR,
                    f"parse error: the frame is not valid JSON ({exc}); "
                    "send one JSON-RPC 2.0 object or array per frame",
                )
            )
        if isinstance(msg, list):
            if not msg:
                return encode(
                    error_response(
                        None, ErrorCode.INVALID_REQUEST, "invalid request: an empty batch; send at least one request"
                    )
                )
            if len(msg) > self.max_batch:
                return encode(
                    error_response(
                        None,
                        ErrorCode.INVALID_REQUEST,
                        f"invalid request: batch of {len(msg)} exceeds the limit of {self.max_batch}",
                        {"limit": self.max_batch},
                    )
                )
            results = await asyncio.gather(*(self.handle_message(m, ctx) for m in msg))
            replies = [_encode_reply(r) for r in results if r is not None]
            return b"[" + b",".join(replies) + b"]" if replies else None
        reply = await self.handle_message(msg, ctx)
        return _encode_reply(reply) if reply is not None else None

    async def handle_message(self, msg: Any, ctx: Any) -> dict[str, Any] | None:
        """Answer one decoded request object; None for a valid notification."""
        if not isinstance(msg, dict):
            return error_response(
                None, ErrorCode.INVALID_REQUEST, "invalid request: expected a JSON object with jsonrpc, method and id"
            )
        req_id = msg.get("id")
        is_notification = "id" not in msg
        if (
            msg.get("jsonrpc") != "2.0"
            or not isinstance(msg.get("method"), str)
            or not (req_id is None or (isinstance(req_id, (str, int)) and not isinstance(req_id, bool)))
        ):
            return error_response(
                req_id if isinstance(req_id, (str, int)) and not isinstance(req_id, bool) else None,
                ErrorCode.INVALID_REQUEST,
                'invalid request: need "jsonrpc": "2.0", a string "method" and an optional string or integer "id"',
            )
        name = msg["method"]
        method = self.methods.get(name)
        if method is None:
            if is_notification:
                return None
            return error_response(
                req_id,
                ErrorCode.METHOD_NOT_FOUND,
                f"method not found: {_clip(name)!r}; rpc.discover lists the methods",
                {"method": _clip(name)},
            )
        raw_params = msg.get("params", {})
        if raw_params is None:
            raw_params = {}
        if not isinstance(raw_params, dict):
            return (
                None
                if is_notification
                else error_response(
                    req_id, ErrorCode.INVALID_PARAMS, f"invalid params for {name}: params must be an object (by-name)"
                )
            )
        if nested_deeper_than(raw_params, self.max_depth):
            return (
                None
                if is_notification
                else error_response(
                    req_id,
                    ErrorCode.INVALID_PARAMS,
                    f"invalid params for {name}: nested deeper than {self.max_depth} levels of arrays and objects",
                    {"limit": self.max_depth},
                )
            )
        rid = f"r{next(_request_counter)}"
        structlog.contextvars.bind_contextvars(request_id=rid, method=name)
        try:
            try:
                params = method.params.model_validate(raw_params)
            except pydantic.ValidationError as exc:
                # The offending input is never echoed: it may be huge, or too deep to encode.
                detail = _validation_detail(exc)
                first = detail[0] if detail else {}
                where = ".".join(str(p) for p in first.get("loc", ())) or "params"
                return (
                    None
                    if is_notification
                    else error_response(
                        req_id,
                        ErrorCode.INVALID_PARAMS,
                        f"invalid params for {name}: {where}: {first.get('msg', 'invalid')}",
                        detail,
                    )
                )
            try:
                result = method.handler(ctx, params)
                if inspect.isawaitable(result):
                    result = await result
            except ExecutiveError as exc:
                log.info("request_failed", code=int(exc.code), error=exc.message)
                return None if is_notification else {"jsonrpc": "2.0", "id": req_id, "error": exc.to_wire()}
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("internal_error")
                return (
                    None
                    if is_notification
                    else error_response(
                        req_id,
                        ErrorCode.INTERNAL_ERROR,
                        f"internal error in {name}; see the daemon log for request {rid}",
                    )
                )
            return None if is_notification else {"jsonrpc": "2.0", "id": req_id, "result": result}
        finally:
            structlog.contextvars.unbind_contextvars("request_id", "method")

    def describe(self) -> list[MethodDescription]:
        """Every method with the JSON Schema of its params and of its result (``rpc.discover``)."""
        return [
            {"name": m.name, "doc": m.doc, "params": m.params.model_json_schema(), "result": m.result_schema()}
            for m in sorted(self.methods.values(), key=lambda m: m.name)
        ]
