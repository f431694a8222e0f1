import re
from pathlib import Path

import pytest

from bellwire import cli, config


def test_defaults_are_documented_values() -> None:
    s = config.load(environ={})
    assert (s.host, s.port, s.region, s.max_sessions_per_user) == (
        "127.0.0.1",
        8080,
        "us-east-1",
        10,
    )
    assert s.session_buffer_bytes == 1 << 20


def test_layers_file_then_environment_then_flags(tmp_path: Path) -> None:
    toml = tmp_path / "b.toml"
    toml.write_text('[server]\nport = 9000\nregion = "eu-central-1"\nhost = "0.0.0.0"\n')
    env = {"BELLWIRE_PORT": "9001", "BELLWIRE_REGION": "us-west-2"}
    s = config.load(config_file=toml, environ=env, overrides={"port": "9002"})
    assert s.port == 9002  # flag beats environment
    assert s.region == "us-west-2"  # environment beats file
    assert s.host == "0.0.0.0"  # file beats default


def test_config_file_from_environment(tmp_path: Path) -> None:
    toml = tmp_path / "b.toml"
    toml.write_text("[server]\nport = 9005\n")
    assert config.load(environ={"BELLWIRE_CONFIG": str(toml)}).port == 9005


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[server]\nprot = 1\n", "unknown setting(s) in [server]: prot"),
        ("[server]\nport = 'x'\n", "port: 'x' is not a valid int"),
        ("[server]\nport = true\n", "port: True is not a valid int"),
        ("[server\n", "is not valid TOML"),
        ("[server]\nport = 70000\n", "port must be 0-65535"),
        ("[server]\naccount_id = '12'\n", "account_id must be 12 digits"),
        ("[server]\ntls_cert = 'a.pem'\n", "tls_cert and tls_key must be given together"),
        ("[server]\nsession_buffer_bytes = 0\n", "session_buffer_bytes must be at least 1"),
        ("[server]\nping_interval_seconds = -1\n", "ping_interval_seconds must be positive"),
    ],
)
def test_bad_settings_name_the_problem(tmp_path: Path, document: str, message: str) -> None:
    toml = tmp_path / "b.toml"
    toml.write_text(document)
    with pytest.raises(config.ConfigError, match=re.escape(message)):
        config.load(config_file=toml, environ={})


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="cannot read config file"):
        config.load(config_file=tmp_path / "absent.toml", environ={})


def test_root_keys_go_together() -> None:
    with pytest.raises(config.ConfigError, match="go together"):
        config.load(environ={"BELLWIRE_ROOT_ACCESS_KEY_ID": "AKIA0000"})


def test_endpoint_host_is_bare_host_and_port() -> None:
    assert config.load(environ={}, overrides={"port": 8443}).endpoint_host == "127.0.0.1:8443"
    assert (
        config.load(environ={}, overrides={"host": "0.0.0.0", "port": 80}).endpoint_host
        == "localhost"
    )
    public = config.load(environ={}, overrides={"public_endpoint": "chat.example.com"})
    assert public.endpoint_host == "chat.example.com"


def test_checkconfig_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["checkconfig", "--port", "9100"]) == 0
    out = capsys.readouterr().out
    assert "port = 9100" in out and "configuration OK" in out
    assert cli.main(["checkconfig", "--port", "nope"]) == 2
    assert "port: 'nope' is not a valid int" in capsys.readouterr().err


def test_secrets_are_masked_by_checkconfig(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BELLWIRE_ROOT_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("BELLWIRE_ROOT_SECRET_ACCESS_KEY", "very-secret")
    assert cli.main(["checkconfig"]) == 0
    out = capsys.readouterr().out
    assert "very-secret" not in out and "root_secret_access_key = ********" in out


def test_configuration_doc_is_generated_from_the_settings() -> None:
    doc = Path(__file__).parents[2] / "docs" / "configuration.md"
    assert doc.read_text() == config.markdown(), (
        "run: python -c 'from bellwire.config import markdown; ...'"
    )


def test_switches_and_the_log_format() -> None:
    assert config.load(environ={}).metrics_enabled is True
    assert config.load(environ={"BELLWIRE_METRICS_ENABLED": "false"}).metrics_enabled is False
    assert config.load(environ={}, overrides={"metrics_enabled": "on"}).metrics_enabled is True
    with pytest.raises(config.ConfigError, match="metrics_enabled: 'maybe' is not a valid bool"):
        config.load(environ={"BELLWIRE_METRICS_ENABLED": "maybe"})
    assert config.load(environ={}, overrides={"log_format": "json"}).log_format == "json"
    with pytest.raises(config.ConfigError, match="log_format must be 'text' or 'json'"):
        config.load(environ={}, overrides={"log_format": "xml"})


def test_a_toml_boolean_is_a_switch(tmp_path: Path) -> None:
    toml = tmp_path / "b.toml"
    toml.write_text("[server]\nmetrics_enabled = false\n")
    assert config.load(config_file=toml, environ={}).metrics_enabled is False


def test_resource_flags_repeat_and_merge() -> None:
    """Every --resource counts, whatever the setting's help text says."""
    first = "arn:aws:lambda:us-east-1:123456789012:function:first"
    second = "arn:aws:events:us-east-1:123456789012:event-bus/default"
    args = cli.build_parser().parse_args(
        ["serve", "--resource", f"{first}=http://a/", "--resource", f"{second}=http://b/"]
    )
    resources = cli._settings(args).resources
    assert (resources.url(first), resources.url(second)) == ("http://a/", "http://b/")
