"""Issue an API key from the command line: how operators get the first (admin) key.

    python -m convoinsight.auth.issue --user alice [--role admin] [--name laptop]

Reads the same settings as the functions (``DOCUMENT_BACKEND``, ``POSTGRES_URL``
or ``GCP_PROJECT_ID``...), prints the key once on stdout and nothing else there,
so ``KEY=$(python -m convoinsight.auth.issue --user alice)`` works. The key is
not stored anywhere in plain text: lose it and issue another.
"""

from __future__ import annotations

import argparse
import sys

from convoinsight.auth import apikeys
from convoinsight.errors import ConvoInsightError
from convoinsight.services import Services
from convoinsight.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m convoinsight.auth.issue", description=__doc__.split("\n")[0])
    parser.add_argument("--user", required=True, help="the user the key identifies")
    parser.add_argument("--role", default="user", choices=apikeys.ROLES, help="the key's role (default: user)")
    parser.add_argument("--name", default="", help="a label shown when listing keys")
    args = parser.parse_args(argv)
    services = None
    try:
        services = Services(load_settings())
        key, record = apikeys.issue(services.documents, args.user, args.role, args.name, issued_by="cli")
    except ConvoInsightError as exc:
        print(f"error: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    finally:
        if services is not None:
            services.close()
    print(key)
    print(f"issued key {record['id']} for {args.user} (role {record['role']}); it is shown only this once",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
