"""``python -m proofs_check [NAME ...] [--list]``: run the machine checks.

Prints PASS/FAIL per check with its evidence and exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import sys

from proofs_check.checks import registered_checks
from proofs_check.registry import run_check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proofs_check", description=__doc__)
    parser.add_argument("names", nargs="*", help="run only these checks (default: all)")
    parser.add_argument("--list", action="store_true", help="list the checks and their claims")
    args = parser.parse_args(argv)

    checks = registered_checks()
    if args.list:
        for chk in checks:
            print(f"{chk.name}: {chk.claim}  [{chk.exercises}]")
        return 0
    if args.names:
        known = {c.name for c in checks}
        unknown = [n for n in args.names if n not in known]
        if unknown:
            print(f"proofs_check: unknown check(s) {unknown}; see --list", file=sys.stderr)
            return 2
        checks = [c for c in checks if c.name in args.names]

    failed = 0
    for chk in checks:
        outcome = run_check(chk)
        failed += not outcome.passed
        status = "PASS" if outcome.passed else "FAIL"
        print(f"{status} {chk.name} ({outcome.seconds:.1f}s): {chk.claim}")
        for line in outcome.details.rstrip().splitlines():
            print(f"    {line}")
    print(f"{len(checks) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
