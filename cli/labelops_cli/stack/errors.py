"""The one exception the local stack raises for problems a user can fix."""

from __future__ import annotations


class StackError(RuntimeError):
    """A set-up or start step failed. The message is one line saying what went wrong and how
    to fix it (a missing tool and where to get it, a taken port, the log to read); the CLI
    prints it as is."""
