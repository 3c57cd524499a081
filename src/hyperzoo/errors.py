"""Errors a user causes and can fix; the command line prints them as one line.

Everything else (a bug) keeps its traceback. Each kind stays importable where it is used:
`hyperzoo.config.ConfigError`, `hyperzoo.data.DataError`, `hyperzoo.runs.RunError`.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input (a config, a data set, a run folder): one line naming the value and what is expected."""


class ConfigError(UserError):
    """A bad key or value in a configuration (one line, naming it)."""


class DataError(UserError):
    """A data set is missing, corrupt or asked for wrongly; the message is one line for users."""


class RunError(UserError):
    """A run folder that is missing, incomplete, corrupt, in use, or already used."""
