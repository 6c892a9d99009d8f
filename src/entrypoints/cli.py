"""`parley`: serve, worker, migrate, users create-admin|list|disable|enable|grant, analytics export, chat."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import date
from typing import TYPE_CHECKING, TypeVar

from application.identity.admin_users import AdminUser, UserChange
from application.identity.create_admin import AdminResult
from application.shared.pagination import MAX_PAGE
from domain.billing.grant import Grant
from domain.identity.ports import UserQuery
from domain.shared.errors import DomainError, InvalidInput, NotFound
from entrypoints.settings import Settings

if TYPE_CHECKING:
    from application.analytics.export import ExportRun
    from entrypoints.bootstrap import Container

T = TypeVar("T")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parley", description="Parley: self-hostable AI chat SaaS backend.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate the database, then serve the API (and, embedded, the jobs)")
    serve.add_argument("--host", default="127.0.0.1", help="also the host of emailed links, unless PARLEY_PUBLIC_URL")
    serve.add_argument(
        "--port", type=int, default=8000, help="also the port of emailed links, unless PARLEY_PUBLIC_URL"
    )
    serve.add_argument("--workers", type=int, default=1, help="API processes (more than 1 needs Redis and a broker)")
    serve.add_argument("--no-migrate", action="store_true", help="skip migrating the database first")

    worker = commands.add_parser("worker", help="run the background jobs and the outbox relay")
    worker.add_argument("--threads", type=int, default=4)

    commands.add_parser("migrate", help="upgrade the database to the latest schema")

    users = commands.add_parser("users", help="manage users").add_subparsers(dest="users_command", required=True)
    create_admin = users.add_parser(
        "create-admin",
        help="create an admin (password from stdin), or promote an existing user (who keeps their password)",
    )
    create_admin.add_argument("email")
    create_admin.add_argument(
        "--reset-password",
        action="store_true",
        help="also replace an existing user's password (read from stdin) and revoke all their sessions",
    )
    listing = users.add_parser("list", help="one line per user, newest first: email, role, plan, status, dates")
    listing.add_argument("--q", help="only users whose email or name contains TEXT (case-insensitive)")
    users.add_parser("disable", help="disable a user: every session and API key ends now").add_argument("email")
    users.add_parser("enable", help="let a disabled user sign in again").add_argument("email")
    grant = users.add_parser("grant", help="add TOKENS to the user's limit for the current period (audit-logged)")
    grant.add_argument("email")
    grant.add_argument("tokens", type=int)
    grant.add_argument("--reason", required=True, help="why (1 to 500 characters): kept with the grant")

    chat = commands.add_parser("chat", help="chat from this terminal with a Parley server, over its HTTP API")
    chat.add_argument("--url", help="the server (default: PARLEY_URL, else http://127.0.0.1:8000)")
    chat.add_argument("--model", help="the model to chat with (default: the server's)")
    chat.add_argument("--conversation", help="continue this conversation (its id)")
    chat.add_argument("--json", action="store_true", help="one message per stdin line, one JSON reply per line")

    analytics = commands.add_parser("analytics", help="analytics storage").add_subparsers(
        dest="analytics_command", required=True
    )
    export = analytics.add_parser(
        "export",
        help="write facts to date-partitioned Parquet under PARLEY_ANALYTICS_DIR (default: every day not yet "
        "completely exported, and today so far); a day exported again is replaced",
    )
    export.add_argument("--from", dest="start", type=_date, metavar="DATE", help="first UTC day (YYYY-MM-DD)")
    export.add_argument("--to", dest="end", type=_date, metavar="DATE", help="last UTC day (default: today)")

    return parser


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (expected YYYY-MM-DD)") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "chat":  # a client: it reads no server settings
        from entrypoints.terminal.chat import ChatOptions, run_chat

        return run_chat(ChatOptions(args.url, args.model, args.conversation, args.json))
    settings = Settings()
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "worker":
        from entrypoints.worker.main import run_worker

        run_worker(settings, threads=args.threads)
        return 0
    if args.command == "migrate":
        _migrate(settings)
        return 0
    if args.command == "users" and args.users_command == "create-admin":
        return _create_admin(settings, args.email, reset_password=args.reset_password)
    if args.command == "users" and args.users_command == "list":
        return _list_users(settings, args.q)
    if args.command == "users" and args.users_command in ("disable", "enable"):
        return _set_disabled(settings, args.email, disabled=args.users_command == "disable")
    if args.command == "users" and args.users_command == "grant":
        return _grant(settings, args.email, args.tokens, args.reason)
    if args.command == "analytics" and args.analytics_command == "export":
        if args.end is not None and args.start is None:
            parser.error("--to needs --from")
        if args.start is not None and args.end is not None and args.start > args.end:
            parser.error("--from must not be after --to")
        return _export_analytics(settings, args.start, args.end)
    parser.error("unknown command")
    return 2


def _migrate(settings: Settings) -> None:
    from adapters.sql.migrations import upgrade

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    print(f"database at head: {_safe_url(settings.resolved_database_url)}", file=sys.stderr)


def _metrics_across_processes(settings: Settings) -> None:
    """Several API processes: prometheus-client's multiprocess mode, so a scrape of any process reports the
    sums of all of them. Each process writes its samples under a directory this server empties first (what a
    previous run left would be counted again); the worker processes inherit the variable and read it when they
    import prometheus-client."""
    import shutil

    directory = (settings.var_dir / "prometheus").resolve()
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _safe_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers > 1 and (not settings.redis_url or not settings.broker_url):
        print(
            "parley serve --workers N needs PARLEY_REDIS_URL and PARLEY_BROKER_URL: rate limits, sessions and "
            "jobs must be shared between processes. Run one process on the embedded default.",
            file=sys.stderr,
        )
        return 2
    if not args.no_migrate:
        _migrate(settings)
    # The app (in this process, or in each of uvicorn's worker processes) reads its settings afresh: hand it
    # the public URL through the environment, so links in emails point where this server answers.
    os.environ["PARLEY_PUBLIC_URL"] = settings.served_public_url(args.host, args.port)
    if args.workers > 1:
        _metrics_across_processes(settings)
    uvicorn.run(
        "entrypoints.http.app:asgi",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=False,  # X-Forwarded-For is believed only from PARLEY_TRUSTED_PROXIES, by Parley itself
        timeout_graceful_shutdown=30,
    )
    return 0


def _read_password() -> str:
    return getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")


def _with_container(settings: Settings, work: Callable[[Container], Awaitable[T]]) -> T:
    """Migrate, then run `work` on a container of its own (closed afterwards), as an operator command does."""
    from entrypoints.bootstrap import bootstrap

    async def run() -> T:
        container = bootstrap(settings)
        try:
            return await work(container)
        finally:
            await container.aclose()

    _migrate(settings)
    return asyncio.run(run())


def _refused(exc: DomainError) -> int:
    print(f"{exc.field}: {exc.detail}" if isinstance(exc, InvalidInput) else exc.detail, file=sys.stderr)
    return 1


def _create_admin(settings: Settings, email: str, *, reset_password: bool) -> int:
    async def work(container: Container) -> AdminResult:
        create_admin = container.identity.create_admin
        needed = await create_admin.needs_password(email, reset_password=reset_password)
        password = _read_password() if needed else None  # asked only when it will be used
        return await create_admin(email, password, reset_password=reset_password)

    try:
        result = _with_container(settings, work)
    except InvalidInput as exc:
        return _refused(exc)
    if result.created:
        print(f"admin created: {email}")
    elif result.password_reset:
        print(f"admin promoted: {email}; password replaced, {result.sessions_revoked} session(s) revoked")
    else:
        print(f"admin promoted: {email} (password unchanged)")
    return 0


def _list_users(settings: Settings, text: str | None) -> int:
    async def work(container: Container) -> list[AdminUser]:
        found: list[AdminUser] = []
        cursor: str | None = None
        while True:
            page = await container.identity.list_users(None, UserQuery(text=text or None), MAX_PAGE, cursor)
            found += page.items
            if (cursor := page.next_cursor) is None:
                return found

    for item in _with_container(settings, work):
        user, last = item.user, item.last_active_at
        status = "disabled" if user.disabled else "active"
        seen = last.isoformat(timespec="seconds") if last else "never"
        print(
            "\t".join(
                (user.email, user.role.value, user.plan, status, user.created_at.isoformat(timespec="seconds"), seen)
            )
        )
    return 0


def _set_disabled(settings: Settings, email: str, *, disabled: bool) -> int:
    async def work(container: Container) -> AdminUser:
        return await container.identity.change_user.by_email(email, UserChange(disabled=disabled))

    try:
        result = _with_container(settings, work)
    except (InvalidInput, NotFound) as exc:
        return _refused(exc)
    print(f"{'disabled' if result.user.disabled else 'enabled'}: {result.user.email}")
    return 0


def _grant(settings: Settings, email: str, tokens: int, reason: str) -> int:
    async def work(container: Container) -> Grant:
        return await container.billing.grant_tokens.by_email(email, tokens, reason)

    try:
        grant = _with_container(settings, work)
    except (InvalidInput, NotFound) as exc:
        return _refused(exc)
    print(f"granted: {grant.tokens} tokens to {email} until {grant.period_end.isoformat(timespec='seconds')}")
    return 0


def _export_analytics(settings: Settings, start: date | None, end: date | None) -> int:
    async def work(container: Container) -> ExportRun:
        return await container.analytics.export(start, end)

    try:
        run = _with_container(settings, work)
    except InvalidInput as exc:
        return _refused(exc)
    if not run.ran:
        print("another export is running; nothing done", file=sys.stderr)
        return 1
    for day in run.days:
        print(
            f"{day.day.isoformat()}\t"
            + ("kept (its facts have left the database)" if day.kept else f"{day.facts} facts")
        )
    print(
        f"exported {sum(1 for day in run.days if not day.kept)} day(s) to {settings.resolved_analytics_dir}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
