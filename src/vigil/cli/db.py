"""`vigil db ...`: build, sign and inspect signature bundles; sigtool's everyday jobs.

Exit codes: 0 success, 1 a check failed (bad signature, lint errors), 2 usage or input error. Only the
parser lives here (every `vigil` start builds it); the work is in vigil.update.dbcommands.
"""

from __future__ import annotations

import argparse
import sys

from vigil.cli.commands import Command


def _add(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_: str
) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help_)


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="db_command", required=True)
    p = _add(sub, "keygen", "create a signing key pair (PREFIX.key, PREFIX.pub)")
    p.add_argument("-o", "--output", required=True, help="file name prefix")
    p.add_argument("--force", action="store_true")
    p = _add(sub, "build", "pack a directory of signature files into a bundle")
    p.add_argument("directory")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--name", default="vigil")
    p.add_argument("--version", dest="db_version", type=int, required=True)
    p.add_argument("--created", type=int, help="creation time (default SOURCE_DATE_EPOCH or now)")
    p.add_argument("--key", help="also sign with this secret key")
    p = _add(sub, "sign", "sign a bundle (BUNDLE.minisig) or a key rotation (--rotate NEW.pub)")
    p.add_argument("bundle", nargs="?")
    p.add_argument("--key", required=True)
    p.add_argument("--rotate", metavar="NEW_PUB")
    p.add_argument("--retire", action="store_true", help="with --rotate: the old key stops being trusted")
    p = _add(sub, "verify", "check a bundle's signature and digests")
    p.add_argument("bundle")
    p.add_argument("--pubkey")
    p.add_argument("--trust-store", default="/etc/vigil/trusted-keys")
    p = _add(sub, "info", "show a bundle manifest or a CVD header")
    p.add_argument("file")
    p = _add(sub, "hash", "print .hdb/.hsb lines for files")
    p.add_argument("files", nargs="+")
    p.add_argument("--algorithm", choices=("md5", "sha1", "sha256"), default="md5")
    p = _add(sub, "hexdump", "hex-encode a file or stdin for a body signature")
    p.add_argument("file", nargs="?")
    p = _add(sub, "decode", "explain signatures (arguments or stdin lines)")
    p.add_argument("signature", nargs="*")
    p.add_argument("--suffix", default="", help="format of the lines, e.g. .ndb")
    p = _add(sub, "unpack", "verify a CVD/CLD/CUD and write its database files")
    p.add_argument("container")
    p.add_argument("-o", "--output", default=".")
    p.add_argument("--force", action="store_true")
    p = _add(sub, "lint", "find short, slow, duplicate and colliding signatures")
    p.add_argument("paths", nargs="+")


def run(args: argparse.Namespace) -> int:
    from vigil.errors import VigilError
    from vigil.update.dbcommands import RUNNERS

    try:
        return RUNNERS[args.db_command](args)
    except (VigilError, OSError, ValueError) as exc:
        print(f"vigil db {args.db_command}: error: {exc}", file=sys.stderr)
        return 2


COMMAND = Command("db", "build, sign and inspect signature bundles; sigtool's everyday jobs", configure, run)
