"""Bad settings as an operator reads them: one line per variable, no traceback.

The values themselves are left out: a rejected value may be a secret.
"""

from __future__ import annotations

import sys

from pydantic import ValidationError

# The exit status of a service started with settings it cannot use (as argparse's usage error).
BAD_SETTINGS_EXIT_CODE = 2


def settings_problems(error: ValidationError) -> list[str]:
    """``VARIABLE: what is wrong`` for each problem a settings validation found."""
    return [
        f"{'.'.join(str(part) for part in problem['loc']) or 'settings'}: {problem['msg']}"
        for problem in error.errors()
    ]


def report_bad_settings(error: ValidationError, service: str) -> int:
    """Print the problems to stderr, and where the settings are documented; the exit status
    to use."""
    problems = settings_problems(error)
    for line in problems:
        print(line, file=sys.stderr)
    print(
        f"{len(problems)} problem(s) in the settings of {service} (docs/configuration.md)",
        file=sys.stderr,
    )
    return BAD_SETTINGS_EXIT_CODE
