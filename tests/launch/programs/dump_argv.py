"""Report what a launched process received, for tests.

    python dump_argv.py <out.json> <args...>

Writes {"argv": <args>, "env": {name: value}, "secret_sha256": {name: sha256(value)}} for the
variables named in DUMP_ENV (comma-separated) and DUMP_SECRETS (comma-separated: only a hash
is written, so the report itself never holds a secret). Exits with DUMP_EXIT (default 0).
"""

import hashlib
import json
import os
import sys


def main() -> int:
    out, args = sys.argv[1], sys.argv[2:]
    names = [n for n in os.environ.get("DUMP_ENV", "").split(",") if n]
    secrets = [n for n in os.environ.get("DUMP_SECRETS", "").split(",") if n]
    report = {
        "argv": args,
        "env": {n: os.environ.get(n) for n in names},
        "secret_sha256": {
            n: hashlib.sha256(os.environ[n].encode()).hexdigest() if n in os.environ else None
            for n in secrets
        },
        "cwd": os.getcwd(),
    }
    with open(out + ".tmp", "w") as f:
        json.dump(report, f)
    os.replace(out + ".tmp", out)
    print(f"dumped {len(args)} arguments", flush=True)
    return int(os.environ.get("DUMP_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main())
