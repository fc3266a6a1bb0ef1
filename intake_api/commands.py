"""`shoufa serve` and `shoufa token`: registered into the CLI by cli_more."""

from __future__ import annotations

import argparse
import sys

from .settings import Settings

ROLES = ("operator", "department", "supervisor", "editor", "admin")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from .server import run

    run(settings, host=args.host, port=args.port, workers=args.workers, drafts=args.drafts, watch=not args.no_watch)
    return 0


def cmd_token_create(args: argparse.Namespace, settings: Settings) -> int:
    from .auth import TokenError, TokenStore
    from .catalog import load_catalog

    if args.open311:
        from .open311.keys import create_api_key

        rec, key = create_api_key(settings.secrets_path, name=args.name, contact=args.contact)
        print(f"created Open311 api_key {rec.id} ({rec.name}); it is shown only now:", file=sys.stderr)
        print(key)
        return 0
    if not args.role:
        print("shoufa: error: --role is required (or --open311 for a client application key)", file=sys.stderr)
        return 2

    if args.department:
        catalog = load_catalog(settings.catalog_path)
        if args.department not in catalog.department_by_code:
            print(
                f"shoufa: error: unknown department {args.department!r} (see data/catalog/departments.yaml)",
                file=sys.stderr,
            )
            return 2
    try:
        rec, token = TokenStore(settings.secrets_path).create(
            name=args.name, role=args.role, department=args.department
        )
    except TokenError as exc:
        print(f"shoufa: error: {exc}", file=sys.stderr)
        return 2
    scope = f" for {rec.department}" if rec.department else ""
    print(
        f"created {rec.role} token {rec.id} ({rec.name}){scope}; it is shown only now:",
        file=sys.stderr,
    )
    print(token)
    return 0


def cmd_token_list(args: argparse.Namespace, settings: Settings) -> int:
    from .auth import TokenStore

    records = TokenStore(settings.secrets_path).records()
    if not records:
        print("no tokens yet: shoufa token create --role operator --name 话务员", file=sys.stderr)
        return 0
    from .open311.keys import ApiKeyStore

    print(f"{'id':<18} {'role':<11} {'department':<22} {'created':<25} {'status':<8} name")
    for k in ApiKeyStore(settings.secrets_path).records():
        print(f"{k.id:<18} {'open311':<11} {'-':<22} {'':<25} {'active' if k.active else 'revoked':<8} {k.name}")
    for r in records:
        status = "revoked" if r.revoked else "active"
        created = r.created.isoformat(timespec="seconds")
        print(
            f"{r.id:<18} {r.role!s:<11} {r.department or '-':<22} {created:<25} {status:<8} {r.name}"
        )
    return 0


def cmd_token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from .auth import TokenError, TokenStore

    try:
        rec = TokenStore(settings.secrets_path).revoke(args.token)
    except TokenError as exc:
        from .open311.keys import ApiKeyStore

        try:
            key = ApiKeyStore(settings.secrets_path).revoke(args.token)
        except Exception:  # noqa: BLE001 - report the token store's error, it is the common case
            print(f"shoufa: error: {exc}", file=sys.stderr)
            return 2
        print(f"revoked Open311 api_key {key.id} ({key.name})")
        return 0
    print(f"revoked {rec.role} token {rec.id} ({rec.name})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser(
        "serve", help="serve the API, the interactive docs and the built site on one port"
    )
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    s.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    s.add_argument("--no-watch", action="store_true", help="serve only; do not rebuild the site on changes")
    s.add_argument(
        "--drafts", action="store_true", help="let the watcher build draft episodes and pages too"
    )
    s.set_defaults(func=cmd_serve)

    t = sub.add_parser(
        "token", help="create, list and revoke API tokens (stored hashed, outside data/)"
    )
    tsub = t.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    c = tsub.add_parser("create", help="create a token and print it once")
    c.add_argument("--role", choices=ROLES, help="what the token may do (not with --open311)")
    c.add_argument("--open311", action="store_true", help="create an Open311 api_key for a client application instead")
    c.add_argument("--contact", default="", help="contact of the Open311 client application")
    c.add_argument("--department", help="department code (for --role department)")
    c.add_argument(
        "--name", required=True, help="who or what uses it, e.g. 城管值班 or wechat-gateway"
    )
    c.set_defaults(func=cmd_token_create)
    ls = tsub.add_parser("list", help="list tokens (never the tokens themselves)")
    ls.set_defaults(func=cmd_token_list)
    r = tsub.add_parser("revoke", help="revoke a token by name or id")
    r.add_argument("token", metavar="NAME_OR_ID")
    r.set_defaults(func=cmd_token_revoke)
