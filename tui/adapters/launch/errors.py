"""The error every part of the launcher raises when a program cannot be started."""

from __future__ import annotations


class LaunchError(Exception):
    """A program could not be started. The message says which, why and the fix."""
