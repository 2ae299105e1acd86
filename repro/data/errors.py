"""The one exception the data layer raises for anything a user can fix."""

from __future__ import annotations


class DataError(Exception):
    """Missing, truncated or malformed data: the message names the file and what to do."""
