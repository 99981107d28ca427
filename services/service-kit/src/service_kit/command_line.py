"""What every command line of the project shares: ``--version``, and the settings that
``serve --help`` lists, read from the pydantic settings models themselves.

A setting is a model field with an environment variable (its alias); its meaning is the field's
``description`` and its default the field's default, so the help cannot drift from the code.
Bad settings are reported by :mod:`service_kit.settings_errors` (one line per variable, exit 2).
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

# Wrapped like argparse's own help.
HELP_WIDTH = 78


def version_text(prog: str, distribution: str) -> str:
    """``<prog> <version of the installed distribution>``, as ``--version`` prints it."""
    try:
        installed = version(distribution)
    except PackageNotFoundError:
        installed = "(not installed)"
    return f"{prog} {installed}"


def add_version_option(parser: argparse.ArgumentParser, distribution: str) -> None:
    """``--version``: print the command's name and its distribution's version, then exit 0."""
    parser.add_argument(
        "--version", action="version", version=version_text(parser.prog, distribution)
    )


@dataclass(frozen=True)
class Setting:
    """One environment variable a service reads."""

    variable: str
    default: str
    meaning: str
    also_read: tuple[str, ...] = ()


def _variables(field: FieldInfo) -> tuple[str, ...]:
    alias = field.validation_alias or field.alias
    if isinstance(alias, str):
        return (alias,)
    if isinstance(alias, AliasChoices):
        return tuple(choice for choice in alias.choices if isinstance(choice, str))
    return ()


def _shown_default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return "set at start"
    value = field.default
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Path | str):
        return str(value) if str(value) else "empty"
    return str(value)


def settings_of(model: type[BaseModel]) -> list[Setting]:
    """The environment variables of a settings model, in the order of its fields.

    Fields without a variable (values passed in by code, nested models listed on their own)
    are left out.
    """
    found = []
    for field in model.model_fields.values():
        variables = _variables(field)
        if not variables:
            continue
        found.append(
            Setting(
                variable=variables[0],
                default=_shown_default(field),
                meaning=(field.description or "").strip(),
                also_read=variables[1:],
            )
        )
    return found


def settings_help(
    models: Iterable[type[BaseModel]],
    heading: str = "settings (environment variables; docs/configuration.md)",
) -> str:
    """The settings of ``models`` as a help text: each variable, its default, its meaning."""
    lines = [f"{heading}:"]
    for model in models:
        for setting in settings_of(model):
            lines.append(f"  {setting.variable}  [default: {setting.default}]")
            meaning = setting.meaning
            if setting.also_read:
                meaning += f" (also read under the older name {', '.join(setting.also_read)})"
            lines.extend(
                textwrap.wrap(
                    meaning,
                    width=HELP_WIDTH,
                    initial_indent="      ",
                    subsequent_indent="      ",
                )
            )
    return "\n".join(lines)


def add_serve_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    help_text: str,
    models: Iterable[type[BaseModel]],
) -> argparse.ArgumentParser:
    """The ``serve`` sub-command, whose ``--help`` lists every setting of ``models``."""
    return commands.add_parser(
        "serve",
        help=help_text,
        description=help_text,
        epilog=settings_help(models),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
