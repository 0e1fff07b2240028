"""Errors raised on bad input or bad parameters.

Every message names *where* the problem is (a file, a variable, a parameter), *what* is wrong and
*how to fix it*, so a user never has to read a traceback to know what to do.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input data: a missing or unreadable file, wrong dimensions, bad timestamps, NaN, ..."""

    def __init__(self, where: str, problem: str, fix: str) -> None:
        self.where, self.problem, self.fix = where, problem, fix
        super().__init__(f"{where}: {problem}. Fix: {fix}")


class ParameterError(InputError):
    """A parameter outside its allowed range or of the wrong type; ``where`` is its dotted name."""
