"""The ``bellwire`` command: serve, checkconfig (and later iam, listen, sessions)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bellwire import config, logs
from bellwire import listen as listen_command
from bellwire.api import admin
from bellwire.iam import cli as iam_cli


def _add_settings(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML file with a [server] table")
    for name, f in config.FIELDS.items():
        flag = "--" + name.replace("_", "-")
        if f.metadata.get("secret"):
            continue  # secrets come from the environment or the file, never the command line
        parser.add_argument(
            flag,
            dest=name,
            default=None,
            help=f.metadata["help"] + f" (env {config.ENV_PREFIX}{name.upper()})",
        )


def _settings(args: argparse.Namespace) -> config.Settings:
    overrides: dict[str, Any] = {
        name: getattr(args, name) for name in config.FIELDS if getattr(args, name, None) is not None
    }
    return config.load(config_file=args.config, overrides=overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bellwire",
        description="A self-hosted server for the Amazon Chime SDK Messaging protocol.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the server")
    _add_settings(serve)
    check = commands.add_parser("checkconfig", help="validate the settings without starting")
    _add_settings(check)
    listen_command.add_arguments(commands.add_parser("listen", help="print a user's live events"))
    admin.add_arguments(commands.add_parser("sessions", help="operate on messaging sessions"))
    _add_iam(commands)
    return parser


def _iam_document(args: argparse.Namespace) -> dict[str, Any]:
    """The config file's [iam] declarations (checked here, applied by the server at start)."""
    from bellwire.iam import declare

    path = args.config
    if path is None and os.environ.get(config.ENV_PREFIX + "CONFIG"):
        path = Path(os.environ[config.ENV_PREFIX + "CONFIG"])
    document = config.load_document(path)
    declare.validate(document)
    return {"iam": document["iam"]} if "iam" in document else {}


def _add_iam(commands: Any) -> None:
    iam_cli.add_arguments(
        commands.add_parser("iam", help="manage IAM users and policies; simulate a request")
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "listen":  # clients: no server settings involved
        return listen_command.run(args)
    if args.command == "sessions":
        return admin.run_cli(args)
    if args.command == "iam":  # talks to the running server (or reads its database)
        return iam_cli.run(args)
    try:
        settings = _settings(args)
        iam_document = _iam_document(args)
    except config.ConfigError as exc:
        print(f"bellwire: invalid configuration: {exc}", file=sys.stderr)
        return 2
    if args.command == "checkconfig":
        for name in config.FIELDS:
            value = getattr(settings, name)
            if config.FIELDS[name].metadata.get("secret") and value:
                value = "********"
            print(f"{name} = {value}")
        print("configuration OK")
        return 0
    logs.configure(settings.log_level, settings.log_format)
    from bellwire.server import serve  # the server stack loads only for `serve`

    try:
        asyncio.run(serve(settings, config_document=iam_document))
    except OSError as exc:
        print(f"bellwire: cannot start: {exc}", file=sys.stderr)
        return 1
    except config.ConfigError as exc:  # an [iam] declaration the server could not apply
        print(f"bellwire: invalid configuration: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
