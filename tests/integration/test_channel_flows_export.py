"""A message's channel flow Status in ``bellwire export`` / ``bellwire import`` (JSON Lines):
SENT, PENDING and FAILED are exported as stored; an imported PENDING message becomes FAILED,
since neither its flow nor its processor's invocation travels with it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from flow_processor import SECRET, Processor
from server_process import free_port
from test_channel_flows import ACCOUNT, NO_RETRY, REGION, App, make_app, processor, wait_status

from bellwire.cli import main
from bellwire.testing import start_server

QUIET = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:export-quiet"
DEAD = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:export-dead"

# They read and write the data dir's SQLite file (the export commands' own tests cover
# PostgreSQL).
pytestmark = pytest.mark.sqlite_only


def channel_with(app: App, arn: str) -> str:
    flow_arn = app.messaging.create_channel_flow(
        AppInstanceArn=app.arn,
        Processors=[processor(arn)],
        Name="export",
        ClientRequestToken=uuid.uuid4().hex,
    )["ChannelFlowArn"]
    channel = app.channel(app.alice)
    app.add(channel, app.bob)
    app.messaging.associate_channel_flow(
        ChannelArn=channel, ChannelFlowArn=flow_arn, ChimeBearer=app.alice
    )
    return channel


def test_the_status_of_flow_messages_is_exported_and_imported(tmp_path: Path) -> None:
    quiet = Processor(silent=True).start()
    running = start_server(
        tmp_path / "source",
        resources={QUIET: quiet.url, DEAD: f"http://127.0.0.1:{free_port()}/"},
        webhook_secret=SECRET,
        webhook_retries=0,
    )
    try:
        m = running.client("chime-sdk-messaging", config=NO_RETRY)
        app = make_app(running.client("chime-sdk-identity"), m)
        held = channel_with(app, QUIET)
        sent = app.send(held, app.alice, "sent")
        pending = app.send(held, app.alice, "still pending")
        events = {e["ChannelMessage"]["MessageId"]: e for e in quiet.arrived(2)}
        m.channel_flow_callback(
            CallbackId=events[sent]["CallbackId"],
            ChannelArn=held,
            ChannelMessage={"MessageId": sent},
        )
        lost = channel_with(app, DEAD)
        failed = app.send(lost, app.alice, "failed")
        assert wait_status(m, lost, failed, app.alice) == "FAILED"
        assert wait_status(m, held, sent, app.alice) == "SENT"

        out = tmp_path / "flows.jsonl"
        assert main(["export", "--data-dir", str(running.data_dir), "-o", str(out)]) == 0
    finally:
        running.stop()
        quiet.stop()
    records = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    statuses = {r["MessageId"]: r["Status"] for r in records if r["type"] == "channel_message"}
    assert statuses == {sent: "SENT", pending: "PENDING", failed: "FAILED"}

    target = tmp_path / "target"
    assert main(["import", str(out), "--data-dir", str(target), "--progress", "never"]) == 0
    copy = start_server(target)
    try:
        m = copy.client("chime-sdk-messaging", config=NO_RETRY)

        def status(channel: str, message_id: str) -> Any:
            return m.get_channel_message_status(
                ChannelArn=channel, MessageId=message_id, ChimeBearer=app.alice
            )["Status"]["Value"]

        assert (status(held, sent), status(held, pending), status(lost, failed)) == (
            "SENT",
            "FAILED",
            "FAILED",
        )
        # As on the source: what did not pass its flow is its sender's alone.
        listed = m.list_channel_messages(ChannelArn=held, ChimeBearer=app.bob)["ChannelMessages"]
        assert [x["Content"] for x in listed] == ["sent"]
        mine = m.list_channel_messages(ChannelArn=held, ChimeBearer=app.alice)["ChannelMessages"]
        assert sorted((x["Content"], x["Status"]["Value"]) for x in mine) == [
            ("sent", "SENT"),
            ("still pending", "FAILED"),
        ]
        assert (
            m.list_channel_messages(ChannelArn=lost, ChimeBearer=app.bob)["ChannelMessages"] == []
        )
    finally:
        copy.stop()


@pytest.mark.parametrize("status", ["DENIED", "LOST"])
def test_a_status_that_is_never_stored_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], status: str
) -> None:
    arn = "arn:aws:chime:us-east-1:123456789012:app-instance/a"
    lines = [
        {"type": "header", "format": "bellwire-export", "version": 1},
        {
            "type": "app_instance",
            "AppInstanceArn": arn,
            "Name": "a",
            "CreatedTimestamp": 1,
            "LastUpdatedTimestamp": 1,
        },
        {
            "type": "channel",
            "ChannelArn": f"{arn}/channel/c",
            "AppInstanceArn": arn,
            "Name": "c",
            "Mode": "UNRESTRICTED",
            "Privacy": "PUBLIC",
            "CreatedByArn": f"{arn}/user/u",
            "CreatedTimestamp": 1,
            "LastUpdatedTimestamp": 1,
        },
        {
            "type": "channel_message",
            "ChannelArn": f"{arn}/channel/c",
            "MessageId": "m",
            "Type": "STANDARD",
            "Persistence": "PERSISTENT",
            "SenderArn": f"{arn}/user/u",
            "Redacted": False,
            "Status": status,
            "CreatedTimestamp": 1,
            "LastUpdatedTimestamp": 1,
        },
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    code = main(["import", str(path), "--data-dir", str(tmp_path / "d"), "--progress", "never"])
    assert code == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:4: channel_message: Status must be one of SENT, PENDING, FAILED" in err, err
