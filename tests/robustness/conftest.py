"""Shared helpers of the bad-input matrix: exact error classes and helpful messages.

Every case of the matrix checks three things: the exact :mod:`emojiqa.errors` class (not a
subclass, not a bare ``ValueError``), that the message names what was wrong, and that it says
what to do about it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import pytest


def check_message(
    exc: BaseException,
    cls: type[BaseException],
    *,
    what: Iterable[str] = (),
    fix: Iterable[str] = (),
) -> str:
    """Assert ``exc`` is exactly ``cls`` and its message matches every regex in what/fix.

    The regexes are searched case-insensitively; ``fix`` patterns are alternatives joined by
    ``|`` inside one pattern when several wordings are fine.
    """
    assert type(exc) is cls, f"expected {cls.__name__}, got {type(exc).__name__}: {exc}"
    msg = str(exc)
    assert msg.strip(), f"{cls.__name__} raised with an empty message"
    for pattern in (*what, *fix):
        assert re.search(pattern, msg, re.IGNORECASE | re.DOTALL), (
            f"message of {cls.__name__} does not match {pattern!r}: {msg}"
        )
    assert "Traceback" not in msg
    return msg


@pytest.fixture()
def check_error() -> Callable[..., str]:
    """:func:`check_message` as a fixture, for errors caught by the test itself."""
    return check_message


@pytest.fixture()
def raises_clearly() -> Callable[..., str]:
    """Call ``fn(*args)`` and check the error it raises; returns the message.

    Example:
        >>> raises_clearly(ImageError, load_image, b"", what=["empty"], fix=["PNG"])
    """

    def run(cls, fn, *args, what=(), fix=(), **kwargs) -> str:
        with pytest.raises(BaseException) as info:
            fn(*args, **kwargs)
        return check_message(info.value, cls, what=what, fix=fix)

    return run
