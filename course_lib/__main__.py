"""Command line: ``python -m course_lib fetch|license|execute``.

The Makefile calls these, and Windows users (no make) run them directly.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib")
    sub = parser.add_subparsers(dest="command", required=True)
    p_fetch = sub.add_parser("fetch", help="download (or copy from the mirror) and verify MovieLens")
    p_fetch.add_argument("variant", nargs="?", default="ml-latest-small")
    p_lic = sub.add_parser("license", help="show the GroupLens licence and citation")
    p_lic.add_argument("variant", nargs="?", default="ml-latest-small")
    p_exec = sub.add_parser("execute", help="re-execute notebooks in place (refresh stored outputs)")
    p_exec.add_argument("notebooks", nargs="+")
    p_exec.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args(argv)

    if args.command == "fetch":
        from course_lib.data import DataError, fetch

        try:
            path = fetch(args.variant)
        except (DataError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"{args.variant}: ready in {path}")
    elif args.command == "license":
        from course_lib.data import show_license

        show_license(args.variant)
    elif args.command == "execute":
        from course_lib.notebooks import execute_in_place

        for nb in args.notebooks:
            seconds = execute_in_place(nb, timeout=args.timeout)
            print(f"{nb}: executed in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
