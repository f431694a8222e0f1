"""The ``bellwire`` command: serve, checkconfig (and later iam, listen, sessions)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bellwire import config

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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
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
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from bellwire.server import serve  # the server stack loads only for `serve`

    try:
        asyncio.run(serve(settings))
    except OSError as exc:
        print(f"bellwire: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
