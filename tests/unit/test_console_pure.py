"""The console's pure parts: markup escaping, pages, sign-in sessions, CSRF, the throttle,
the key figures, masked settings, the live tail's queues, and the write table."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from bellwire.aws import codec
from bellwire.config import Settings
from bellwire.console import chime_pages, figures, frame, iam_pages, simulator
from bellwire.console.actions import ACTIONS, inputs
from bellwire.console.features import FEATURES, feature, supported
from bellwire.console.markup import Markup, el, esc, href, pager, table
from bellwire.console.security import (
    SignInThrottle,
    cookie_header,
    cookie_of,
    csrf_ok,
    open_session,
    same_origin,
    secret_ok,
    token_key,
)
from bellwire.console.tail import QUEUE, Tail
from bellwire.domain import operations
from bellwire.domain.delivery import ChannelEvent, UserEvent
from bellwire.events import Event, EventType, MessageType
from bellwire.iam.keys import root_principal
from bellwire.iam.policy import parse_policy
from bellwire.iam.principal import Principal
from bellwire.records.chime import Channel, Message

CHANNEL = "arn:aws:chime:us-east-1:123456789012:app-instance/a/channel/c"
VIEWER = frame.Viewer("arn:aws:iam::123456789012:root", "csrf-token-1")


# --- markup ------------------------------------------------------------------------------------


def test_text_is_escaped_and_markup_is_not() -> None:
    assert esc("<b>&\"'") == "&lt;b&gt;&amp;&quot;&#x27;"
    assert esc(Markup("<b>x</b>")) == "<b>x</b>"
    assert el("td", None, "<script>") == "<td>&lt;script&gt;</td>"
    assert el("a", {"href": 'x" onclick="y'}, "t") == '<a href="x&quot; onclick=&quot;y">t</a>'
    assert el("input", {"required": True, "value": None}) == "<input required>"


def test_hrefs_encode_their_query_and_pager_links_the_next_key() -> None:
    assert href("/console/app", arn="a/b c", tab=None) == "/console/app?arn=a%2Fb+c"
    assert pager("/console/apps", {}, None) == ""
    assert 'href="/console/apps?after=k%2F1"' in pager("/console/apps", {}, "k/1")
    assert "No rows" in table(("a",), [], "No rows")


def test_message_content_cannot_inject_markup() -> None:
    channel = Channel(CHANNEL, "app", "c", "RESTRICTED", "PRIVATE", None, "u", 0.0, 0.0, None, 1)
    message = Message(
        CHANNEL,
        "m1",
        1,
        "u",
        "<img src=x onerror=alert(1)>",
        "<script>x</script>",
        None,
        "STANDARD",
        "PERSISTENT",
        False,
        0.0,
        0.0,
    )
    rendered = chime_pages.channel_messages(channel, [message], None)
    assert "<script>" not in rendered and "<img" not in rendered
    assert "&lt;script&gt;" in rendered


def test_pages_carry_no_inline_script_and_every_form_its_csrf_token() -> None:
    page = chime_pages.app_instances(VIEWER, [], None)
    assert "<script>" not in page.replace('<script src="/console/static/console.js" defer>', "")
    forms = page.count("<form")
    assert forms == page.count('name="csrf" value="csrf-token-1"') == 2  # create + sign-out


def test_confirmation_page_repeats_the_fields_and_confirms_only_on_submit() -> None:
    action = ACTIONS["delete-channel"]
    form = {"ChannelArn": CHANNEL, "ChimeBearer": "arn:bearer", "AppInstanceArn": "arn:app"}
    page = frame.confirm(VIEWER, action, form, "/console/apps")
    assert action.title in page
    for value in form.values():
        assert f'value="{value}"' in page
    assert 'name="confirmed" value="yes"' in page
    assert 'href="/console/apps"' in page  # Cancel goes back without writing


def test_a_new_key_page_shows_the_secret_and_says_it_is_the_only_time() -> None:
    page = iam_pages.new_key(VIEWER, "alice", "AKIAEXAMPLE", "s3cr3t/value")
    assert "s3cr3t/value" in page and "only time" in page


def test_unsupported_features_say_so() -> None:
    for f in FEATURES:
        if not supported(f):
            assert "not supported by this server" in chime_pages.unsupported(f)
    assert feature("app", "bots") is not None and feature("channel", "bots") is None


# --- security ----------------------------------------------------------------------------------


def test_a_sign_in_is_random_and_kept_by_its_cookies_hash() -> None:
    cookie, session = open_session("AKIA1", 1000.0, 60.0)
    other, again = open_session("AKIA1", 1000.0, 60.0)
    assert (session.access_key_id, session.expires) == ("AKIA1", 1060.0)
    assert len({cookie, other, session.csrf, again.csrf}) == 4  # fresh tokens every time
    assert len(cookie) >= 43  # 256 bits
    assert token_key(cookie) == hashlib.sha256(cookie.encode()).hexdigest() != cookie
    assert token_key(cookie) != token_key(other)


def test_csrf_and_secret_comparisons() -> None:
    _, session = open_session("a", 0.0, 60.0)
    assert csrf_ok(session, session.csrf)
    assert not csrf_ok(session, None) and not csrf_ok(session, session.csrf + "x")
    assert secret_ok("abc", "abc") and not secret_ok("abc", "abd")


def test_throttle_refuses_after_the_failures_until_the_oldest_ages_out() -> None:
    throttle = SignInThrottle(3, 60.0)
    for t in (0.0, 10.0, 20.0):
        assert throttle.retry_after("1.2.3.4", t) == 0.0
        throttle.failed("1.2.3.4", t)
    assert throttle.retry_after("1.2.3.4", 30.0) == pytest.approx(30.0)
    assert throttle.retry_after("5.6.7.8", 30.0) == 0.0  # per address
    assert throttle.retry_after("1.2.3.4", 60.5) == 0.0  # the first failure aged out


def test_cookie_attributes() -> None:
    plain = cookie_header("v", secure=False, max_age=10)
    assert plain == "bellwire_console=v; Path=/console; HttpOnly; SameSite=Strict; Max-Age=10"
    assert "; Secure" in cookie_header("v", secure=True, max_age=None)
    assert cookie_of("a=1; bellwire_console=xyz; b=2") == "xyz"
    assert cookie_of("bellwire_console=") is None and cookie_of(None) is None


def test_same_origin() -> None:
    assert same_origin({"Origin": "http://127.0.0.1:8080"}, "127.0.0.1:8080")
    assert same_origin({"Referer": "https://h:1/console/apps"}, "h:1")
    assert not same_origin({"Origin": "https://evil.example"}, "127.0.0.1:8080")
    assert not same_origin({"Origin": "null"}, "127.0.0.1:8080")
    assert not same_origin({}, "127.0.0.1:8080")


# --- figures -----------------------------------------------------------------------------------


def test_key_figures_sum_label_sets_and_skip_comments() -> None:
    text = "\n".join(
        [
            "# HELP bellwire_sessions_open Open sessions",
            "bellwire_sessions_open 3.0",
            'bellwire_rest_requests_total{operation="A b",status="200"} 5.0',
            'bellwire_rest_requests_total{operation="C",status="400"} 2.0 1700000000',
            "bellwire_other 9",
            "bellwire_deliveries_total NaN",
        ]
    )
    found = dict(figures.key_figures(text))
    assert found == {"Messaging sessions open": 3.0, "REST requests": 7.0}


def test_settings_are_listed_with_secrets_masked(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, root_access_key_id="AKIAROOT", root_secret_access_key="very-secret"
    )
    rows = dict(figures.settings_in_force(settings))
    assert rows["root_secret_access_key"] == figures.MASK
    assert rows["root_access_key_id"] == "AKIAROOT"
    assert len(rows) == len(dataclasses.fields(Settings))
    assert "very-secret" not in json.dumps(rows)


# --- the live tail -------------------------------------------------------------------------------


def _event(seq: int, only: frozenset[str] | None = None) -> ChannelEvent:
    payload = {"ChannelArn": CHANNEL, "Content": f"m{seq}"}
    kind = EventType.CREATE_CHANNEL_MESSAGE
    return ChannelEvent(CHANNEL, seq, Event(kind, MessageType.STANDARD, payload), only=only)


def test_tail_gives_watchers_the_members_frame() -> None:
    tail = Tail()
    woken: list[int] = []
    watcher = tail.watch(CHANNEL, lambda: woken.append(1))
    tail.on_event(_event(1))
    tail.on_event(_event(2, only=frozenset({"b", "a"})))
    tail.on_event(UserEvent("someone"))
    tail.on_event(ChannelEvent("other", 1, _event(1).event))
    lines = [json.loads(line) for line in watcher.take()]
    assert [line["seq"] for line in lines] == [1, 2] and len(woken) == 2
    assert lines[0]["frame"] == _event(1).event.encode() and lines[0]["only"] is None
    assert lines[1]["only"] == ["a", "b"]
    tail.forget(watcher)
    assert len(tail) == 0


def test_a_slow_watcher_loses_the_oldest_and_is_told() -> None:
    tail = Tail()
    watcher = tail.watch(CHANNEL, lambda: None)
    for seq in range(QUEUE + 5):
        tail.on_event(_event(seq))
    lines = watcher.take()
    assert len(lines) == QUEUE and watcher.dropped == 5
    assert json.loads(lines[0])["seq"] == 5


def test_closing_the_tail_ends_every_watcher() -> None:
    tail = Tail()
    woken: list[int] = []
    watcher = tail.watch(CHANNEL, lambda: woken.append(1))
    tail.close()
    assert watcher.closed and woken == [1]
    assert tail.watch(CHANNEL, lambda: None).closed


# --- the writes ----------------------------------------------------------------------------------


def test_every_write_names_a_registered_modeled_operation() -> None:
    assert operations.REGISTRY
    routes = codec.default_router().operations
    for action in ACTIONS.values():
        if action.operation is None:
            continue
        assert action.service is not None
        registered = operations.REGISTRY[(action.service, action.operation)]
        assert registered.writes and not registered.refused
        if action.service == "chime":
            assert action.operation in routes


def test_inputs_keep_only_the_actions_filled_fields() -> None:
    action = ACTIONS["create-app-user"]
    form = {"AppInstanceArn": "arn", "AppInstanceUserId": "u", "Name": "", "csrf": "x"}
    assert inputs(action, form) == {"AppInstanceArn": "arn", "AppInstanceUserId": "u"}


def test_validate_input_checks_a_console_input_against_the_model() -> None:
    operation = codec.default_router().operations["CreateAppInstance"]
    valid = codec.validate_input(operation, {"Name": "n"})
    assert valid["Name"] == "n" and valid["ClientRequestToken"]
    with pytest.raises(codec.BadRequest, match="Name"):
        codec.validate_input(operation, {"Name": ""})
    with pytest.raises(codec.BadRequest, match="must not be null"):
        codec.validate_input(operation, {})


# --- the policy simulator --------------------------------------------------------------------


def _user(*documents: dict[str, object]) -> Principal:
    return Principal(
        arn="arn:aws:iam::123456789012:user/ops",
        account_id="123456789012",
        kind="user",
        user_id="AIDAEXAMPLE",
        name="ops",
        policies=tuple(
            parse_policy(json.dumps({"Version": "2012-10-17", "Statement": [d]}), name=f"p{i}")
            for i, d in enumerate(documents)
        ),
    )


def test_simulator_names_the_deciding_statement() -> None:
    allow = {"Sid": "Read", "Effect": "Allow", "Action": "chime:List*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "chime:ListChannelBans", "Resource": "*"}
    target = _user(allow, deny)
    allowed = simulator.explain(target, "chime:ListChannels", CHANNEL, {})
    rows = dict(allowed.rows)
    assert allowed.allowed and rows["Outcome"] == "Allow"
    assert "p0" in rows["Deciding statement"] and "Read" in rows["Deciding statement"]
    assert rows["Policies evaluated"] == "p0, p1"
    denied = dict(simulator.explain(target, "chime:ListChannelBans", CHANNEL, {}).rows)
    assert denied["Outcome"] == "Deny" and "explicit deny" in denied["Explanation"]
    implicit = simulator.explain(target, "chime:DeleteChannel", CHANNEL, {})
    assert not implicit.allowed
    assert (
        "no identity-based policy allows the chime:DeleteChannel action"
        in dict(implicit.rows)["Explanation"]
    )


def test_simulator_root_and_a_user_without_policies() -> None:
    root = root_principal("123456789012")
    assert simulator.explain(root, "iam:DeleteUser", "*", {}).allowed
    bare = simulator.explain(_user(), "chime:ListChannels", "*", {})
    assert not bare.allowed and dict(bare.rows)["Policies evaluated"].startswith("none")


def test_a_supported_feature_lists_the_operations_items_and_its_next_token() -> None:
    bots = feature("app", "bots")
    assert bots is not None
    output = {
        "AppInstanceBots": [{"AppInstanceBotArn": "arn:bot/<1>", "Name": "Helper"}],
        "NextToken": "tok/en",
    }
    page = chime_pages.feature_list(bots, output, "/console/app", {"arn": "arn:app", "tab": "bots"})
    assert "arn:bot/&lt;1&gt;" in page and "Helper" in page
    assert 'href="/console/app?arn=arn%3Aapp&amp;tab=bots&amp;token=tok%2Fen"' in page
    empty = chime_pages.feature_list(bots, {"AppInstanceBots": []}, "/console/app", {})
    assert "No bots." in empty and "Next page" not in empty
