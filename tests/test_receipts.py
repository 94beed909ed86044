"""整改通知 签收 (issue #40 item 3) over real HTTP and TimescaleDB: the facility's operator acknowledges
receipt of an order on their own account, at the server's time, once; nobody acknowledges for another
facility or back-dates it; the order reads 已签收 (when, who) or 未签收 for the inspector and the operator,
and one left unacknowledged past the time to acknowledge it is flagged to its issuer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from contract.rectification import RECEIPT_WITHIN
from tests.conftest import as_role
from tests.test_orders import A, _page_session, call, due, site  # noqa: F401 - `site`: the fixture, by name


async def _issue(site: dict[str, Any], title: str) -> dict[str, Any]:  # noqa: F811
    status, order = await call(
        "POST", f"{site['url']}/api/v1/facilities/{A.id}/orders", site["town"], {"title": title, "due_at": due()}
    )
    assert status == 201, order
    return dict(order)


async def test_the_facility_acknowledges_receipt_itself_at_the_servers_time(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
    db_url: str,
) -> None:
    url = site["url"]
    order = await _issue(site, "消防通道堆放杂物")
    assert (order["received_at"], order["received_by"], order["receipt_overdue"]) == (None, None, False)
    receipt = f"{url}/api/v1/orders/{order['id']}/receipt"
    for who in ("other", "oper_b"):
        status, _ = await call("POST", receipt, site[who], {})
        assert status == 404, f"{who}: another facility's order is none of theirs"
    for who in ("town", "county", "city"):
        status, err = await call("POST", receipt, site[who], {})
        assert status == 403 and "operator" in err["error"], f"{who} does not acknowledge for the facility"
    for backdated in ({"received_at": "2020-01-01T08:00:00+08:00"}, {"at": order["issued_at"]}):
        status, err = await call("POST", receipt, site["oper"], backdated)
        assert status == 400 and "server's" in err["error"], backdated
    assert await db.fetchval("SELECT count(*) FROM order_receipts") == 0, "refused: nothing recorded"
    before = datetime.now(UTC)
    status, got = await call("POST", receipt, site["oper"], {})
    after = datetime.now(UTC)
    assert status == 200, got
    assert got["received_by"] == "oper" and before <= datetime.fromisoformat(got["received_at"]) <= after
    status, _ = await call("POST", receipt, site["oper"], {})
    assert status == 409, "acknowledged once"
    status, seen = await call("GET", f"{url}/api/v1/orders/{order['id']}", site["town"])
    assert (seen["received_by"], seen["received_at"]) == ("oper", got["received_at"]), "the issuer sees it"
    audits = await db.fetch("SELECT actor FROM audit_log WHERE action = 'order.receipt'")
    assert [r["actor"] for r in audits] == ["oper"]
    # nor can the web's own role back-date one in the database: never before the order was issued
    web = await asyncpg.connect(as_role(db_url, "web"))
    try:
        other = await _issue(site, "晨检记录缺失")
        with pytest.raises(asyncpg.CheckViolationError):
            await web.execute(
                "INSERT INTO order_receipts (order_id, received_by, received_at) VALUES ($1, 'oper', $2)",
                other["id"],
                datetime.fromisoformat(other["issued_at"]) - timedelta(minutes=1),
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await web.execute("UPDATE order_receipts SET received_at = received_at - interval '1 day'")
    finally:
        await web.close()


async def test_an_unacknowledged_order_is_flagged_to_its_issuer_on_both_sides_pages(
    site: dict[str, Any],  # noqa: F811
    db: asyncpg.Connection,
) -> None:
    url = site["url"]
    late = await _issue(site, "保安缺岗")
    fresh = await _issue(site, "灭火器过期")
    await db.execute(
        "UPDATE rectification_orders SET issued_at = issued_at - $2::interval WHERE id = $1",
        late["id"],
        RECEIPT_WITHIN + timedelta(hours=1),
    )
    _, listed = await call("GET", f"{url}/api/v1/orders?status=open", site["town"])
    flags = {o["id"]: o["receipt_overdue"] for o in listed["orders"]}
    assert flags == {late["id"]: True, fresh["id"]: False}, "only the one past the time to acknowledge"
    inspector, _ = await _page_session(url, "town", "pw-town")
    operator, csrf = await _page_session(url, "oper", "pw-oper")
    try:
        page = await (await inspector.get(f"{url}/orders?lang=zh")).text()
        assert page.count("逾期未签收") == 1, "the issuer's list flags it"
        page = await (await inspector.get(f"{url}/orders/{late['id']}?lang=zh")).text()
        assert "未签收" in page and "data-receipt-overdue" in page and 'id="receipt-form"' not in page
        page = await (await operator.get(f"{url}/orders/{late['id']}?lang=zh")).text()
        assert "未签收" in page and 'id="receipt-form"' in page, "the operator sees it and may acknowledge"
        r = await operator.post(f"{url}/orders/{late['id']}/receipt", data={"csrf": csrf})
        assert r.status == 200 and "已签收" in await r.text()
        page = await (await inspector.get(f"{url}/orders/{late['id']}?lang=zh")).text()
        assert "已签收" in page and "data-receipt-overdue" not in page and "oper" in page
        page = await (await inspector.get(f"{url}/orders?lang=zh")).text()
        assert "逾期未签收" not in page, "acknowledged: no longer flagged"
    finally:
        await inspector.close()
        await operator.close()
