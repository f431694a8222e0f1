from pathlib import Path

import pytest

from bellwire import cli, config
from bellwire.resources import ResourceError, ResourceMap

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:moderate"
STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/chat"


def test_parse_from_each_source_gives_the_same_map() -> None:
    table = ResourceMap.parse(
        {LAMBDA: "https://hooks.example/m", STREAM: "redis://r:6379/0?stream=s"}
    )
    flags = ResourceMap.parse(
        [f"{LAMBDA}=https://hooks.example/m", f"{STREAM}=redis://r:6379/0?stream=s"]
    )
    env = ResourceMap.parse(
        f"{LAMBDA}=https://hooks.example/m\n  {STREAM}=redis://r:6379/0?stream=s "
    )
    assert table == flags == env
    assert table.url(STREAM) == "redis://r:6379/0?stream=s"  # the '=' of a query stays in the URL
    assert table.url("arn:aws:lambda:us-east-1:123456789012:function:other") is None


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (["no-equals-sign"], "is not ARN=URL"),
        ([f"{LAMBDA}="], "is not ARN=URL"),
        (["lambda:x=https://h/"], "is not an ARN"),
        ([f"{LAMBDA}=ftp://h/x"], "must be absolute with a scheme among"),
        ([f"{LAMBDA}=/relative"], "must be absolute"),
        ({LAMBDA: 3}, "must be a string"),
    ],
)
def test_bad_pairs_name_the_problem(source: object, message: str) -> None:
    with pytest.raises(ResourceError, match=message):
        ResourceMap.parse(source)  # type: ignore[arg-type]


def test_require_explains_how_to_map_and_which_schemes_fit() -> None:
    resources = ResourceMap.parse([f"{STREAM}=redis://r:6379/0?stream=s"])
    assert resources.require(STREAM, what="Kinesis stream", schemes=["redis", "nats"]).startswith(
        "redis://"
    )
    with pytest.raises(ResourceError, match=rf"--resource {LAMBDA}=URL"):
        resources.require(LAMBDA, what="Lambda function", schemes=["http", "https"])
    with pytest.raises(ResourceError, match="needs one of http://, https://"):
        resources.require(STREAM, what="Lambda function", schemes=["http", "https"])


def test_layers_merge_per_arn(tmp_path: Path) -> None:
    toml = tmp_path / "b.toml"
    toml.write_text(
        f'[resources]\n"{LAMBDA}" = "https://file/"\n"{STREAM}" = "nats://n:4222?subject=s"\n'
    )
    env = {"BELLWIRE_RESOURCES": f"{LAMBDA}=https://env/"}
    settings = config.load(
        config_file=toml, environ=env, overrides={"resources": [f"{STREAM}=redis://flag:6379/0"]}
    )
    assert settings.resources.url(LAMBDA) == "https://env/"  # environment beats file
    assert settings.resources.url(STREAM) == "redis://flag:6379/0"  # flag beats file
    assert len(settings.resources) == 2


def test_the_flag_repeats_and_a_bad_pair_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = cli.build_parser().parse_args(
        [
            "checkconfig",
            "--resource",
            f"{LAMBDA}=https://a/",
            "--resource",
            f"{STREAM}=nats://n:4222",
        ]
    )
    assert len(cli._settings(args).resources) == 2
    assert cli.main(["checkconfig", "--data-dir", str(tmp_path), "--resource", "nonsense"]) == 2
    assert "resources: 'nonsense' is not ARN=URL" in capsys.readouterr().err
    toml = tmp_path / "b.toml"
    toml.write_text('resources = "x"\n')
    with pytest.raises(config.ConfigError, match=r"\[resources\] must be a table"):
        config.load(config_file=toml, environ={})
