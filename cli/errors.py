"""The CLI's own error: bad input from the caller, exit 2 with the message."""


class UsageError(Exception):
    """Bad input from the caller: exit 2 with the message."""
