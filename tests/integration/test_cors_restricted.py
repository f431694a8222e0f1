"""CORS with ``cors_allowed_origins`` restricted to one origin: the allowed page's calls get
its origin echoed, other origins' preflights and WebSocket upgrades are refused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from ws_helpers import Client, World, connect_url, open_ws

from bellwire.events import EventType
from bellwire.testing import RunningServer, start_server

GOOD, EVIL = "https://chat.example.com", "https://evil.example"
EXPOSED = {"x-amzn-requestid", "x-amzn-errortype", "x-amzn-errormessage", "date"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The module's server (used by the ``raw`` and ``unsigned`` fixtures), restricted."""
    running = start_server(tmp_path_factory.mktemp("cors"), cors_allowed_origins=GOOD)
    try:
        yield running
    finally:
        running.stop()


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,x-amz-date",
    }


def exposed(headers: dict[str, str]) -> set[str]:
    return {h.strip().lower() for h in headers.get("access-control-expose-headers", "").split(",")}


def test_restricted_preflight_echoes_the_allowed_origin(unsigned: Callable[..., Any]) -> None:
    response = unsigned("OPTIONS", "/channels", b"", preflight(GOOD))
    assert response.status == 200
    assert response.headers["access-control-allow-origin"] == GOOD
    assert "Origin" in response.headers["vary"]


def test_restricted_preflight_refuses_other_origins(unsigned: Callable[..., Any]) -> None:
    response = unsigned("OPTIONS", "/channels", b"", preflight(EVIL))
    assert response.status == 403
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-headers" not in response.headers


def test_restricted_answers_name_only_the_allowed_origin(raw: Callable[..., Any]) -> None:
    good = raw("GET", "/app-instances", headers={"Origin": GOOD})
    assert good.status == 200, good.body
    assert good.headers["access-control-allow-origin"] == GOOD
    assert good.headers["vary"] == "Origin"
    assert exposed(good.headers) >= EXPOSED
    evil = raw("GET", "/app-instances", headers={"Origin": EVIL})
    assert evil.status == 200  # the browser, not the server, withholds it from the page
    assert "access-control-allow-origin" not in evil.headers
    assert evil.headers["vary"] == "Origin"


async def test_websocket_from_another_origin_is_refused_with_4003(server: RunningServer) -> None:
    world = await asyncio.to_thread(World.create, server)
    user = await asyncio.to_thread(world.user)
    refused = Client(await open_ws(connect_url(server, user), origin=EVIL), user)
    assert await refused.closed_with() == 4003
    assert "origin" in (refused.ws.close_reason or "").lower()
    assert refused.events == []
    for origin in (GOOD, None):  # an allowed page, and a client that is no browser
        client = Client(await open_ws(connect_url(server, user), origin=origin), user)
        assert (await client.next()).type == EventType.SESSION_ESTABLISHED
        await client.close()
