"""User-facing errors: one actionable line, non-zero exit (see cli.py)."""

import sys


class UserError(Exception):
    """Bad input or configuration the user can fix; printed as one line without a traceback."""


def refuse(message: str) -> None:
    """End the process as for every error the user can fix: one line on stderr, exit code 2."""
    print(f"inr-recover: error: {message}", file=sys.stderr)
    sys.exit(2)
