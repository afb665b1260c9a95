"""Command-line argument types shared by the apps."""

from __future__ import annotations

import argparse

__all__ = ["at_least"]


def at_least(minimum: int):
    """An argparse ``type``: an integer >= ``minimum`` (``--frames 0`` is refused with the flag's name)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse
