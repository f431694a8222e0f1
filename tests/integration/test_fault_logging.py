"""A 500 is logged once, with its traceback and the request id the client was given.

The fault is real, not mocked: a table is dropped under the running server through a second
SQLite connection, so the next write fails inside the store.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import sqlite3

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bellwire.testing import RunningServer


def signed(
    running: RunningServer, method: str, path: str, body: bytes, service: str
) -> tuple[int, dict[str, str], str]:
    request = AWSRequest(method=method, url=running.url + path, data=body)
    credentials = Credentials(running.access_key_id, running.secret_access_key)
    SigV4Auth(credentials, service, running.region).add_auth(request)
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)
    try:
        conn.request(method, path, body, dict(request.headers.items()))
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, response.read().decode()
    finally:
        conn.close()


def _drop(running: RunningServer, table: str) -> None:
    if running.settings.store:  # the server runs on PostgreSQL
        import psycopg

        with psycopg.connect(running.settings.store, autocommit=True) as pg:
            pg.execute(f'DROP TABLE "{table}"')
        return
    conn = sqlite3.connect(running.data_dir / "bellwire.db")
    try:
        conn.execute(f'DROP TABLE "{table}"')
        conn.commit()
    finally:
        conn.close()


def _records_naming(caplog: pytest.LogCaptureFixture, request_id: str) -> list[logging.LogRecord]:
    """The records that report the failure (each request also has its access line, at INFO)."""
    return [
        r for r in caplog.records if request_id in r.getMessage() and r.name != "bellwire.access"
    ]


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bellwire.access"]


def test_a_rest_500_logs_its_traceback_once_with_the_request_id(
    bellwire_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    _drop(bellwire_server, "app_instances")
    caplog.set_level(logging.INFO)
    status, headers, _ = signed(
        bellwire_server, "POST", "/app-instances", json.dumps({"Name": "x"}).encode(), "chime"
    )
    assert status == 500
    assert headers["x-amzn-errortype"] == "ServiceFailureException"
    request_id = headers["x-amzn-requestid"]
    records = _records_naming(caplog, request_id)
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].levelno == logging.ERROR
    assert records[0].exc_info is not None
    assert "app_instances" in str(records[0].exc_info[1])
    assert not [r for r in caplog.records if r.exc_info and r is not records[0]]
    (access,) = _access_lines(caplog)
    assert access.levelno == logging.INFO and access.exc_info is None
    assert " 500 " in access.getMessage()


def test_a_query_500_logs_its_traceback_once_with_the_request_id(
    bellwire_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    _drop(bellwire_server, "iam_users")
    caplog.set_level(logging.INFO)
    body = b"Action=CreateUser&Version=2010-05-08&UserName=broken"
    status, _, text = signed(bellwire_server, "POST", "/", body, "iam")
    assert status == 500
    assert "<Type>Receiver</Type>" in text
    match = re.search(r"<RequestId>([^<]+)</RequestId>", text)
    assert match is not None, text
    records = _records_naming(caplog, match.group(1))
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].exc_info is not None


async def test_a_failed_connect_closes_1011_and_logs_its_traceback_once(
    bellwire_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The session's 500: 1011 for the client, one traceback naming the user and sessionId."""
    from ws_helpers import connect_url, open_ws

    user = "arn:aws:chime:us-east-1:123456789012:app-instance/a/user/u1"
    _drop(bellwire_server, "users")
    caplog.set_level(logging.INFO)
    ws = await open_ws(connect_url(bellwire_server, user, session_id="fault-1"))
    try:
        await ws.wait_closed()
    finally:
        await ws.close()
    assert ws.close_code == 1011
    records = [r for r in caplog.records if "fault-1" in r.getMessage()]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert records[0].exc_info is not None and user in records[0].getMessage()
    assert len([r for r in caplog.records if r.exc_info]) == 1
