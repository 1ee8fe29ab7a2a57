"""Fills and signals on the event stream: each committed fill once, to its portfolio's owner only —
from an order placed, a resting order worked as the board moves and an amend —, none for a retried
or refused order; a kept signal too; and over HTTP, a fill made through the API reaches the owner's
open stream."""

from __future__ import annotations

import orjson
import pytest

from backend.market.board import BoardState
from backend.paper.engine import StrategyBook, StrategyEngine
from backend.paper.ledger import Ledger
from backend.paper.matcher import Matcher
from backend.paper.orders import OrderError
from backend.stream.bus import MemoryBus
from tests.backend.paper.conftest import CALENDAR, quote
from tests.backend.paper.test_engine import NOW, _feed


def _events(bus: MemoryBus, start: str, owner: str | None, channels=("fills", "signals")) -> list:
    return bus.read(start, set(channels), owner=owner, limit=10_000).events


def test_every_committed_fill_goes_out_once_to_its_owner(ledger: Ledger) -> None:
    bus = MemoryBus()
    ledger = Ledger(ledger.meta, calendar=CALENDAR, events=bus)
    start = bus.last()
    mine = ledger.create("ana", "main")["id"]
    theirs = ledger.create("bao", "main")["id"]
    buy = {"symbol": "VCB", "side": "buy", "quantity": 2_500, "type": "limit", "limit_price": 90_200,
           "idempotency_key": "k-1"}
    ledger.place(mine, "ana", buy, quote())
    ledger.place(mine, "ana", buy, quote())  # retried with its key: no second trade, no second event
    with pytest.raises(OrderError):
        ledger.place(mine, "ana", {**buy, "idempotency_key": None, "quantity": 150}, quote())
    resting = ledger.place(mine, "ana", {**buy, "idempotency_key": None, "quantity": 1_000, "limit_price": 89_500},
                           quote()).order
    ledger.amend(mine, "ana", resting["id"], {"limit_price": 89_400}, lambda symbol: quote())
    ledger.place(theirs, "bao", {**buy, "idempotency_key": None, "quantity": 100}, quote())
    ledger.on_quote(quote(last=89_400))  # the amended buy fills at its price

    stored = sorted(ledger.history(mine, "ana"), key=lambda f: f["id"])
    sent = _events(bus, start, "ana")
    assert [e.channel for e in sent] == ["fills"] * 3
    assert [{k: v for k, v in e.data.items() if k != "portfolio_id"} for e in sent] == stored
    assert {e.data["portfolio_id"] for e in sent} == {mine} and {e.owner for e in sent} == {"ana"}
    assert [e.data["price"] for e in sent] == [90_100, 90_200, 89_400]
    assert [e.data["id"] for e in _events(bus, start, "bao")] == [f["id"] for f in ledger.history(theirs, "bao")]
    assert _events(bus, start, None) == []


def test_a_kept_signal_goes_out_to_the_strategys_owner(sqlite_ledger: Ledger) -> None:
    bus = MemoryBus()
    ledger = Ledger(sqlite_ledger.meta, calendar=CALENDAR, events=bus)
    book = StrategyBook(ledger.meta)
    pid = ledger.create("ana", "main")["id"]
    strategy = book.add(pid, "ana", "ma_cross", {"fast": 2, "slow": 3}, symbols=["VCB"], auto_execute=True, lots=1)
    engine = StrategyEngine(ledger.meta, ledger, auto_allowed=lambda owner: True, clock=lambda: NOW, events=bus)
    board = BoardState()
    start = bus.last()
    _feed(board, Matcher(ledger, board, clock=lambda: NOW, engine=engine), [90_000, 89_800, 89_600, 89_400, 90_000])
    [signal] = book.signals(strategy["id"], "ana")
    sent = _events(bus, start, "ana")
    assert [e.channel for e in sent] == ["fills", "signals"]  # the signal's order filled while it was kept
    assert sent[1].data["id"] == signal["id"] and sent[1].data["order_id"] == signal["order_id"]
    assert sent[1].data["portfolio_id"] == pid and sent[0].data["order_id"] == signal["order_id"]
    assert _events(bus, start, "bao") == []


def test_a_fill_made_through_the_api_reaches_the_owners_open_stream(tmp_path, warehouse_url, loaded_warehouse) -> None:
    from app import create_app
    from backend.config import load_settings
    from tests.backend.paper.test_portfolios_api import _install_board

    settings = load_settings(data_dir=tmp_path, warehouse_dsn=warehouse_url, demo_rows=0, redis_url=None,
                             warehouse_database=loaded_warehouse.database)
    app = create_app(settings, market=False)
    _install_board(app)
    client = app.server.test_client()
    pid = client.post("/api/v1/portfolios", json={"name": "streamed"}).get_json()["id"]
    stream = client.get("/api/v1/stream?channels=fills", buffered=False)
    assert stream.status_code == 200
    chunks = iter(stream.response)
    assert next(chunks).startswith(b"retry: ")  # the stream's position is fixed here
    placed = client.post(f"/api/v1/portfolios/{pid}/orders",
                         json={"symbol": "FPT", "side": "buy", "quantity": 600, "type": "market"}).get_json()
    got = []
    while len(got) < len(placed["fills"]):
        chunk = next(chunks)
        if chunk.startswith(b"id: ") and b"\nevent: fills\n" in chunk:
            got.append(orjson.loads(chunk.split(b"\ndata: ", 1)[1]))
    stream.close()
    assert [(f["price"], f["quantity"]) for f in got] == [(f["price"], f["quantity"]) for f in placed["fills"]]
    assert {f["portfolio_id"] for f in got} == {pid}
