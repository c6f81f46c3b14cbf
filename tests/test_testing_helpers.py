"""``strongroom.testing.assert_not_leaked`` sees values in text, reprs and hidden exception contexts."""

from __future__ import annotations

import pytest

from strongroom.testing import assert_not_leaked


def test_value_in_a_suppressed_context_is_caught() -> None:
    """A value carried only by a `from None`-suppressed context is still reported."""
    try:
        try:
            b"\xffsecret-canary-77".decode()
        except UnicodeDecodeError:
            raise ValueError("decode failed") from None
    except ValueError as exc:
        error = exc
    with pytest.raises(AssertionError, match="leaked via ValueError"):
        assert_not_leaked(["secret-canary-77"], error)


def test_clean_things_pass() -> None:
    """Objects that do not hold the value pass."""
    assert_not_leaked(["secret-canary-77"], "nothing here", RuntimeError("no value"), {"k": 1})
