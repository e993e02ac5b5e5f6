"""User-facing errors: one actionable line, non-zero exit (see cli.py)."""


class UserError(Exception):
    """Bad input or configuration the user can fix; printed as one line without a traceback."""
