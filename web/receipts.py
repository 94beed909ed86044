"""整改通知 签收 (issue #40 item 3) for the API and the pages: the facility's operator acknowledges receipt
of an order (supervision/receipts.py decides who and when). Scope first (404), then who (403), the body
(400) and the state (409); audited.

API: `POST /api/v1/orders/{id}/receipt` (an empty body or `{}`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from storage import rectification as store
from storage.users import User, audit
from supervision.receipts import ReceiptRefused, check_acknowledge
from web.api import user_of
from web.errors import Conflict, Invalid, NotFound, from_rule
from web.keys import POOL, now_of
from web.params import json_body, path_id
from web.schemas.base import respond
from web.schemas.orders import OrderDetail

routes = web.RouteTableDef()


async def acknowledge(pool: asyncpg.Pool, user: User, order_id: int, body: Any, *, now: datetime) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    async with pool.acquire() as conn:
        order = await store.order_detail(conn, user.scope, order_id, now)
        if order is None:
            raise NotFound("no such order")
        try:
            check_acknowledge(user.scope, order, body)
        except ReceiptRefused as err:
            raise from_rule(err) from None
        if not await store.record_receipt(conn, order_id, user.username, now):
            raise Conflict("the order's receipt is acknowledged already", "err_receipt_done")
        await audit(conn, user.username, "order.receipt", f"order {order_id}", {"at": now.isoformat()}, at=now)
        out = await store.order_detail(conn, user.scope, order_id, now)
        assert out is not None  # noqa: S101 - just read in scope
        return out


@routes.post("/api/v1/orders/{order_id}/receipt")
async def post_receipt(request: web.Request) -> web.Response:
    user = user_of(request)
    body = await json_body(request, "{}") if request.can_read_body else {}
    oid = path_id(request.match_info["order_id"])
    return respond(OrderDetail, await acknowledge(request.app[POOL], user, oid, body, now=now_of(request)))
