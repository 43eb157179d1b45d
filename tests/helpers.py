"""Helpers shared by test modules (the tests folder is on sys.path under pytest)."""

import functools

import pytest


def skips_unsupported(test):
    """Skip (instead of failing) where a backend says a rule is not supported on it yet."""
    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        try:
            return test(*args, **kwargs)
        except (ValueError, NotImplementedError) as exc:
            if "not yet supported" in str(exc) or isinstance(exc, NotImplementedError):
                pytest.skip(str(exc))
            raise
    return wrapper
