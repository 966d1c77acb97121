"""The one base of every error this library raises, so callers can catch them all at once.

Each error still subclasses the built-in it always did (``ValueError`` for bad input, ``RuntimeError`` for a
failed model, store or server), so existing ``except ValueError`` code keeps working.
"""

from __future__ import annotations

__all__ = [
    "CloudLocalError",
]


class CloudLocalError(Exception):
    """Base class of every error raised by langgraph-cloudlocal.

    Example:
        >>> from langgraph_cloudlocal import CloudLocalError, create_minions
        >>> from langgraph_cloudlocal.testing import ScriptedChatModel
        >>> try:
        ...     create_minions(ScriptedChatModel(), ScriptedChatModel(), max_rounds=0)
        ... except CloudLocalError as error:
        ...     print(type(error).__name__, error)
        InputError max_rounds must be >= 1
    """
