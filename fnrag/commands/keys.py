"""``fnrag keys create|list|revoke``: the service's API keys (stored hashed; a new key is
shown once, on the last line of ``create``'s output)."""

from __future__ import annotations

import argparse
import json

from fnrag.commands.common import print_line

ROLES = ("practitioner", "operator")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="create, list and revoke API keys of fnrag serve")
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a key; it is printed once, on the last line")
    create.add_argument(
        "--name", required=True, help="who holds the key (a person, a team, a gateway)"
    )
    create.add_argument(
        "--role",
        required=True,
        choices=ROLES,
        help="practitioner: chat, search, feedback; operator: also reload and feedback export",
    )
    listing = actions.add_parser("list", help="every key: id, name, role, prefix, state")
    listing.add_argument("--json", action="store_true", help="print the keys as JSON")
    revoke = actions.add_parser("revoke", help="revoke the active key(s) with this id or name")
    revoke.add_argument("which", metavar="ID_OR_NAME")
    for command in (create, listing, revoke):
        command.add_argument(
            "--db",
            metavar="URL",
            help="database URL (default: $FNRAG_DB, else sqlite:///$FNRAG_HOME/fnrag.db)",
        )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fnrag.storage.db import Database
    from fnrag.storage.keys import create_key, list_keys, revoke_key

    db = Database(args.db)
    db.migrate()
    try:
        if args.keys_action == "create":
            key, record = create_key(db, args.name, args.role)
            print_line(
                f"created key {record.id} for {record.name} ({record.role}); it is shown only now:"
            )
            print_line(key)
        elif args.keys_action == "list":
            keys = list_keys(db)
            if args.json:
                rows = [
                    {
                        "id": k.id,
                        "name": k.name,
                        "role": k.role,
                        "prefix": k.prefix,
                        "created_at": k.created_at.isoformat(),
                        "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
                    }
                    for k in keys
                ]
                print_line(json.dumps(rows, ensure_ascii=False, indent=2))
            elif not keys:
                print_line(
                    "no keys; create one with: fnrag keys create --name NAME --role practitioner"
                )
            for k in keys if not args.json else ():
                state = (
                    "revoked " + k.revoked_at.isoformat(timespec="seconds")
                    if k.revoked_at
                    else "active"
                )
                print_line(f"{k.id}\t{k.name}\t{k.role}\t{k.prefix}…\t{state}")
        else:
            for k in revoke_key(db, args.which):
                print_line(f"revoked key {k.id} ({k.name}, {k.prefix}…)")
    finally:
        db.dispose()
    return 0
