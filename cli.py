"""The command lines' one rule: bad input is one line on stderr and exit status 2.

Not a part of the paper: the project's commands (train.py, latency.py, the benchmarks; models.py
keeps a copy, to depend on nothing) parse their options with `Parser`, which exits with status 2 on
a bad option, and raise `UsageError` for input they cannot use, which their main() prints as one
line and returns 2. A typo costs one line, never a usage dump or a traceback. Copied alone it needs
only the standard library.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn


class UsageError(ValueError):
    """Bad input from the user: the command prints it as one line and exits with status 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line on stderr and exit status 2, with no usage block."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer >= `low`, e.g. `add_argument("--threads", type=at_least(0))`."""
    def integer(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got '{text}'") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value
    return integer


def integers(low: int) -> Callable[[str], list[int]]:
    """An argparse type: comma-separated integers, each >= `low` ("1,2")."""
    one = at_least(low)
    return lambda text: [one(t) for t in text.split(",")]
