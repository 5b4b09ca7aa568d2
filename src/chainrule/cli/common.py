"""Helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping

from ..atomic import OutputPathError, check_output_path, same_file

__all__ = [
    "CLIError",
    "HelpFormatter",
    "check_output_file",
    "int_list",
    "is_standard_output",
    "model_save_path",
    "non_negative_int",
    "positive_float",
    "positive_int",
    "stdout_closed",
]

#: Set by ``cli.main`` while a command runs with standard output closed (``>&-``).
STDOUT_CLOSED = False

#: Ends a help text that explains its own default: it renders as nothing, and its
#: ``%(default)`` stops ArgumentDefaultsHelpFormatter from adding "(default: None)".
OWN_DEFAULT = "%(default).0s"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help ends with its default, in words a person can use.

    A help text that already says its default (the word "default") is left as it
    is; a required argument says "(required)"; an unset default reads "(default:
    not set)", a flag's "(default: off)", a list "(default: 100,30)".
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = (action.help or "").replace(OWN_DEFAULT, "")
        if (
            re.search(r"\bdefault\b", text.replace("%(default)s", ""))
            or action.default is argparse.SUPPRESS
        ):
            return action.help or ""
        if action.required or not action.option_strings:
            return f"{text} (required)"
        default = action.default
        if isinstance(default, bool) and action.nargs == 0:
            return f"{text} (default: {'on' if default else 'off'})"
        if default is None:
            return f"{text} (default: not set)"
        if isinstance(default, (list, tuple)):
            shown = ",".join(str(v) for v in default) or "''"
            return f"{text} (default: {shown})"
        return f"{text} (default: %(default)s)"


class CLIError(Exception):
    """A user error: printed as one line without a traceback, exit status 2."""


def check_output_file(
    path: str,
    option: str,
    inputs: Mapping[str, str | None],
    outputs: Mapping[str, str | None] | None = None,
) -> None:
    """Before any work: ``path`` can be written and is none of the other files.

    ``inputs`` maps what a file is ("data", "model") to its path; one that does
    not exist (a bundled data set's name) is skipped.  ``outputs`` maps the other
    output options to their paths.  Equal paths, symlinks and hard links are
    refused, so an output never overwrites what the command reads or writes.
    """
    try:
        check_output_path(path)
    except OutputPathError as exc:
        raise CLIError(f"{option} {exc}") from None
    for what, other in inputs.items():
        if other is not None and os.path.isfile(other) and same_file(path, other):
            raise CLIError(f"{path}: is the {what} file; choose another {option}")
    for what, other in (outputs or {}).items():
        if other is not None and same_file(path, other):
            raise CLIError(f"{path}: is also the {what} file; choose another {option}")


def stdout_closed() -> bool:
    """Whether the command was started with standard output closed (``>&-``)."""
    return STDOUT_CLOSED


def is_standard_output(path: str) -> bool:
    """Whether ``path`` is ``-`` or names this process's standard output (``/dev/stdout``,
    ``/proc/self/fd/1``, the terminal or pipe it is)."""
    if path == "-":
        return True
    try:
        here, out = os.stat(path), os.fstat(1)
    except (OSError, ValueError):
        return False
    return (here.st_dev, here.st_ino) == (out.st_dev, out.st_ino)


#: The file name ``--save DIR/`` writes in DIR.
MODEL_FILE_NAME = "model.npz"


def model_save_path(path: str | None) -> str | None:
    """``--save``'s path: ``DIR/`` (a trailing slash) means ``DIR/model.npz``.

    A folder that does not exist is refused (``--save newdir/`` would otherwise write a
    file named ``newdir``); an existing directory without the slash is refused later,
    as for every output ("is a directory, expected a file name").
    """
    if path is None:
        return None
    if path.endswith(("/", os.sep)):
        if not os.path.isdir(path):
            raise CLIError(
                f"--save {path}: the folder {path.rstrip('/' + os.sep)!r} does not "
                f"exist (create it, or give a file name)"
            )
        return os.path.join(path, MODEL_FILE_NAME)
    return path


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (a seed)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def int_list(text: str) -> list[int]:
    """argparse type: comma-separated positive integers, e.g. ``100,30``."""
    if text.strip() == "":
        return []
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers like 100,30, got {text!r}"
        ) from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return values
