"""Exceptions that carry a message meant for the user.

The command line turns `UsageError` subclasses into exit code 2 with the message only (no
traceback), as the report contract requires for usage and configuration errors.
"""


class CalcscanError(Exception):
    """Base class of every error calcscan raises on purpose."""


class UsageError(CalcscanError):
    """Bad command line, bad config file: nothing is written, exit code 2."""


class ConfigError(UsageError):
    """A config file that cannot be read or does not validate."""


class LoadError(CalcscanError):
    """A series or image that cannot be turned into pixels with geometry."""
