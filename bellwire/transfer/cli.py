"""``bellwire export``, ``bellwire import`` and ``bellwire backup``.

export and backup work on a running server's data dir (a read snapshot; SQLite's online
backup); import writes into the data dir of a *stopped* server, which it locks meanwhile. Errors
are one line on stderr naming the file and line or the resource, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from bellwire import config
from bellwire.iam.keys import ROOT_FILE
from bellwire.transfer import records as fmt
from bellwire.transfer.database import (
    DB_FILE,
    DatabaseError,
    backup,
    open_target,
    snapshot,
    without_password,
)
from bellwire.transfer.loader import Loader
from bellwire.transfer.progress import Progress


class CliError(Exception):
    """A message for the operator; the command exits with status 2."""


def _common(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--config", type=Path, help="TOML file with a [server] table")
    parser.add_argument(
        "--data-dir", dest="data_dir", help=f"{what} (default: from the settings: ./bellwire-data)"
    )


def _progress_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="progress line on stderr (auto: only on a terminal)",
    )


def add_arguments(commands: Any) -> None:
    export = commands.add_parser(
        "export",
        help="write every resource as JSON Lines (works while the server runs)",
    )
    _common(export, "the data dir to export")
    export.add_argument(
        "-o", "--output", type=Path, help="the file to write (mode 0600; default: stdout)"
    )
    export.add_argument(
        "--include-secrets",
        action="store_true",
        help="also write the secrets of IAM access keys (without them, imported users get no keys)",
    )
    _progress_flag(export)

    imp = commands.add_parser(
        "import",
        help="read an export file, or a live endpoint, into the data dir of a stopped server",
    )
    imp.add_argument("file", nargs="?", help="an export file ('-' for stdin)")
    _common(imp, "the data dir to import into (the server must be stopped)")
    source = imp.add_argument_group("reading a live endpoint instead of a file")
    source.add_argument(
        "--from-endpoint", metavar="URL", help="a bellwire (or any one-URL Chime endpoint)"
    )
    source.add_argument(
        "--from-aws", action="store_true", help="AWS itself, at its usual endpoints"
    )
    source.add_argument("--region", help="the source's region (default: the AWS config's)")
    source.add_argument("--profile", help="the AWS profile to sign with (default: the usual chain)")
    source.add_argument(
        "--app-instance-arn",
        action="append",
        default=[],
        metavar="ARN",
        help="copy this app instance (repeatable; default: every app instance)",
    )
    source.add_argument(
        "--bearer",
        action="append",
        default=[],
        metavar="ARN",
        help="the AppInstanceAdmin to read channels as (default: the instance's first admin)",
    )
    source.add_argument(
        "--targeted-messages",
        action="store_true",
        help="also copy messages targeted at a member, which the admin cannot see: reads "
        "each channel once per member",
    )
    source.add_argument(
        "--with-iam",
        action="store_true",
        help="also copy IAM users, roles and inline policies (access keys need their secrets)",
    )
    imp.add_argument(
        "--batch-size",
        type=int,
        default=500,
        help="records per transaction",
    )
    _progress_flag(imp)

    bk = commands.add_parser(
        "backup",
        help="copy a running server's database and root credentials to DEST",
    )
    bk.add_argument("dest", type=Path, help="a new directory, usable as a data dir")
    _common(bk, "the data dir to back up")
    bk.add_argument("--force", action="store_true", help="replace a backup already in DEST")
    bk.add_argument(
        "--no-verify", action="store_true", help="skip the copy's PRAGMA integrity_check"
    )


def _settings(args: argparse.Namespace) -> config.Settings:
    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    return config.load(config_file=args.config, overrides=overrides)


def _data_dir(args: argparse.Namespace) -> Path:
    return _settings(args).data_dir


def _source(args: argparse.Namespace) -> Path | str:
    """The database of the configured server: its ``store`` URL, or its data dir's file."""
    settings = _settings(args)
    return settings.store or settings.data_dir / DB_FILE


def _progress(args: argparse.Namespace, label: str, total: int | None = None) -> Progress:
    enabled = {"auto": None, "always": True, "never": False}[args.progress]
    return Progress(label, total_bytes=total, enabled=enabled)


def run(args: argparse.Namespace) -> int:
    command = args.command
    try:
        if command == "export":
            return _export(args)
        if command == "import":
            return _import(args)
        return _backup(args)
    except config.ConfigError as exc:
        print(f"bellwire {command}: invalid configuration: {exc}", file=sys.stderr)
        return 2
    except (CliError, DatabaseError) as exc:
        print(f"bellwire {command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # export and backup leave no partial file behind
        print(f"bellwire {command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `bellwire export | head`: the reader has gone, and that is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        print(f"bellwire {command}: {exc}", file=sys.stderr)
        return 1


# --- export --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    """stdout, or a new owner-only file that appears under its name only once complete."""
    if path is None or str(path) == "-":
        sys.stdout.flush()
        # UTF-8 whatever the locale says: the format is UTF-8.
        out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
        try:
            yield out
            out.flush()
        finally:
            out.detach()
        return
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yield handle
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _export(args: argparse.Namespace) -> int:
    from bellwire.transfer import export

    db = _source(args)
    progress = _progress(args, "export")
    count = 0
    with snapshot(db) as tx, _output(args.output) as out:
        header = fmt.header(
            created=time.time(), source=without_password(db), secrets=args.include_secrets
        )
        out.write(export.line(header))
        for record in export.records(tx, secrets=args.include_secrets):
            out.write(export.line(record))
            count += 1
            progress.update(records=1, new=1, note=record["type"])
    progress.close()
    where = "stdout" if args.output is None else str(args.output)
    print(f"bellwire export: {count:,} records written to {where}", file=sys.stderr)
    return 0


# --- import --------------------------------------------------------------------------------------


def _endpoint_reader(args: argparse.Namespace) -> Any:
    import botocore.session
    from botocore.config import Config

    from bellwire.transfer.endpoint import EndpointReader

    session = botocore.session.Session(profile=args.profile)
    region = args.region or session.get_config_variable("region")
    if not region:
        raise CliError("the source's region is unknown: pass --region (e.g. --region us-east-1)")
    cfg = Config(retries={"max_attempts": 8, "mode": "standard"})
    endpoint = None if args.from_aws else args.from_endpoint

    def client(service: str, region_name: str) -> Any:
        return session.create_client(
            service, region_name=region_name, endpoint_url=endpoint, config=cfg
        )

    return EndpointReader(
        client("chime-sdk-identity", region),
        client("chime-sdk-messaging", region),
        # IAM is global: its requests are signed for us-east-1 wherever they go.
        client("iam", "us-east-1") if args.with_iam else None,
        app_instance_arns=args.app_instance_arn or None,
        bearers=args.bearer,
        targeted=args.targeted_messages,
    )


def _import(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from bellwire.transfer import importer

    live = bool(args.from_endpoint or args.from_aws)
    if live == (args.file is not None):
        raise CliError("name an export file, or --from-endpoint URL / --from-aws (one of them)")
    if args.from_endpoint and args.from_aws:
        raise CliError("--from-endpoint and --from-aws exclude each other")
    if args.batch_size < 1:
        raise CliError("--batch-size must be at least 1")
    settings = _settings(args)
    data_dir = settings.data_dir
    reader = None
    with contextlib.ExitStack() as stack:
        if live:
            reader = _endpoint_reader(args)
            items = reader.items()
            progress = _progress(args, "import")
            source_name = args.from_endpoint or "AWS"
        else:
            if args.file == "-":
                handle = sys.stdin.buffer
                total = None
            else:
                path = Path(args.file)
                try:
                    handle = stack.enter_context(path.open("rb"))
                except OSError as exc:
                    raise CliError(f"cannot read {path}: {exc.strerror}") from None
                total = path.stat().st_size
            items = importer.read_file(handle, args.file)
            progress = _progress(args, "import", total)
            source_name = args.file
        target = open_target(settings.store or data_dir / DB_FILE)
        stack.callback(target.close)
        loader = Loader(target.tx)
        try:
            counts = importer.load(target, items, progress, batch=args.batch_size, loader=loader)
        except importer.ImportFailed as exc:
            progress.close()
            print(f"bellwire import: {exc}", file=sys.stderr)
            print(_resume_hint(), file=sys.stderr)
            return 2
        except ClientError as exc:
            progress.close()
            error = exc.response.get("Error", {})
            print(
                f"bellwire import: reading {source_name}: {error.get('Code')}: "
                f"{error.get('Message')}",
                file=sys.stderr,
            )
            print(_resume_hint(), file=sys.stderr)
            return 1
        except BotoCoreError as exc:
            progress.close()
            print(f"bellwire import: reading {source_name}: {exc}", file=sys.stderr)
            print(_resume_hint(), file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            progress.close()
            print("bellwire import: interrupted.", file=sys.stderr)
            print(_resume_hint(), file=sys.stderr)
            return 130
        progress.close()
    print(f"bellwire import: from {source_name} into {data_dir}:", file=sys.stderr)
    print(importer.summary(counts), file=sys.stderr)
    skipped = sum(n for (t, o), n in counts.items() if o == "skipped")
    if skipped:
        print(
            f"  {skipped:,} access keys came without their secret (export with "
            "--include-secrets to copy them); create new keys for those users",
            file=sys.stderr,
        )
    for note in reader.notes if reader is not None else ():
        print(f"bellwire import: note: {note}", file=sys.stderr)
    for region, account in sorted(loader.scopes - {(settings.region, settings.account_id)}):
        print(
            f"bellwire import: warning: ARNs of region {region} and account {account} were "
            f"imported, but the target serves region {settings.region} and account "
            f"{settings.account_id}; set region and account_id to match before starting it",
            file=sys.stderr,
        )
    return 0


def _resume_hint() -> str:
    return (
        "bellwire import: everything before this point is imported; run the same command "
        "again to go on (records already imported are skipped)"
    )


# --- backup --------------------------------------------------------------------------------------


def _backup(args: argparse.Namespace) -> int:
    if _settings(args).store:
        raise CliError(
            "backup copies the embedded SQLite database; this configuration stores its state "
            "in PostgreSQL: back it up with pg_dump (see docs/operations-data.md)"
        )
    data_dir = _data_dir(args)
    dest: Path = args.dest
    if dest.resolve() == data_dir.resolve():
        raise CliError("DEST is the data dir itself: name a new directory")
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o700)
    if (dest / DB_FILE).exists() and not args.force:
        raise CliError(f"{dest / DB_FILE} exists: pass --force to replace it")
    size = backup(data_dir / DB_FILE, dest / DB_FILE, verify=not args.no_verify)
    copied = ""
    root = data_dir / ROOT_FILE
    if root.exists():
        target = dest / ROOT_FILE
        partial = target.with_name(target.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out, root.open("rb") as src:
            shutil.copyfileobj(src, out)
        os.replace(partial, target)
        copied = f" and {ROOT_FILE}"
    verified = "" if args.no_verify else " (integrity check ok)"
    print(
        f"bellwire backup: {DB_FILE} ({size:,} bytes){verified}{copied} copied to {dest}",
        file=sys.stderr,
    )
    return 0
