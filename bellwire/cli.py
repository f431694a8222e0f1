"""The ``bellwire`` command: serve, checkconfig, listen, sessions, iam, export, import, backup."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bellwire import __version__, config, flows, logs
from bellwire import listen as listen_command
from bellwire.api import admin
from bellwire.iam import cli as iam_cli
from bellwire.transfer import cli as transfer_cli


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show (None, False, [])."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False, []) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """Every bellwire parser and subparser (``add_subparsers`` builds them with this class):
    defaults in the help, and no abbreviations, so that ``--store`` can never be taken for
    ``--store-readers`` (or a flag added later silently change what a prefix meant)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def _add_settings(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML file with a [server] table")
    for name, f in config.FIELDS.items():
        flag = config.flag_of(name)
        if f.metadata.get("secret"):
            continue  # secrets come from the environment or the file, never the command line
        # default=None keeps the layering (file < env < flag); the help shows the real default.
        env = f"env {config.ENV_PREFIX}{name.upper()}"
        text = f.metadata["help"]
        if f.type == "ResourceMap":  # repeatable, whatever its help says
            text += f" (default: none; {env})"
            parser.add_argument(flag, dest=name, action="append", metavar="ARN=URL", help=text)
            continue
        if "default" in text:  # the help explains a default that is not a plain value
            text += f" ({env})"
        else:
            text += f" (default: {'none' if f.default in (None, '') else f.default}; {env})"
        # A switch (--dev-tls) may also be given a value (--dev-tls false).
        switch: dict[str, Any] = (
            {"nargs": "?", "const": "true", "metavar": "true|false"} if f.type == "bool" else {}
        )
        parser.add_argument(flag, dest=name, default=None, help=text, **switch)


def _settings(args: argparse.Namespace) -> config.Settings:
    overrides: dict[str, Any] = {
        name: getattr(args, name) for name in config.FIELDS if getattr(args, name, None) is not None
    }
    return config.load(config_file=args.config, overrides=overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="bellwire",
        description="A self-hosted server for the Amazon Chime SDK Messaging protocol.",
    )
    parser.add_argument("--version", action="version", version=f"bellwire {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the server")
    _add_settings(serve)
    check = commands.add_parser("checkconfig", help="validate the settings without starting")
    _add_settings(check)
    devcert = commands.add_parser(
        "devcert",
        help="make the development CA and localhost certificate of --dev-tls in the data dir, "
        "and print how to trust the CA",
    )
    _add_settings(devcert)
    listen_command.add_arguments(commands.add_parser("listen", help="print a user's live events"))
    admin.add_arguments(commands.add_parser("sessions", help="operate on messaging sessions"))
    flows.add_arguments(
        commands.add_parser(
            "processor", help="serve the example channel flow processor (a word filter)"
        )
    )
    _add_iam(commands)
    transfer_cli.add_arguments(commands)
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
    if args.command == "processor":
        return flows.run_cli(args)
    if args.command == "iam":  # talks to the running server (or reads its database)
        return iam_cli.run(args)
    if args.command in ("export", "import", "backup"):
        return transfer_cli.run(args)
    try:
        settings = _settings(args)
        iam_document = _iam_document(args)
    except config.ConfigError as exc:
        print(f"bellwire: invalid configuration: {exc}", file=sys.stderr)
        return 2
    for warning in config.unknown_environment():
        print(f"bellwire: warning: {warning}", file=sys.stderr)
    if args.command == "devcert":
        return _devcert(settings)
    if args.command == "checkconfig":
        for name in config.FIELDS:
            value = getattr(settings, name)
            if config.FIELDS[name].metadata.get("secret") and value:
                value = "********"
            print(f"{name} = {value}")
        print("configuration OK")
        return 0
    logs.configure(settings.log_level, settings.log_format)
    if settings.workers > 1:
        from bellwire import workers

        raw = list(argv) if argv is not None else sys.argv[1:]
        return workers.run(settings, raw[raw.index("serve") + 1 :])
    # The server stack loads only for `serve`.
    from bellwire.devtls import DevTlsError
    from bellwire.server import serve
    from bellwire.store.base import StoreUnavailable
    from bellwire.store.migrations import SchemaTooNew

    try:
        asyncio.run(serve(settings, config_document=iam_document))
    except (StoreUnavailable, SchemaTooNew) as exc:
        print(f"bellwire: cannot start: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"bellwire: cannot start: {exc}", file=sys.stderr)
        return 1
    except config.ConfigError as exc:  # an [iam] declaration the server could not apply
        print(f"bellwire: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except DevTlsError as exc:
        print(f"bellwire: cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


def _devcert(settings: config.Settings) -> int:
    from bellwire import devtls
    from bellwire.server import dev_tls_hosts

    try:
        made = devtls.ensure(settings.data_dir, dev_tls_hosts(settings))
    except (devtls.DevTlsError, OSError) as exc:
        print(f"bellwire devcert: {exc}", file=sys.stderr)
        return 1
    state = "made" if made.cert_created else "kept (still valid)"
    print(f"CA certificate:     {made.ca}{' (new)' if made.ca_created else ''}")
    print(f"server certificate: {made.cert} {state}")
    print(f"server key:         {made.key}")
    print("Serve with them: bellwire serve --dev-tls (same --data-dir).")
    host = "localhost" if settings.host in ("0.0.0.0", "::", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    print(devtls.instructions(made, f"https://{host}:{settings.port}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
