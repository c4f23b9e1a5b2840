"""What every command-line front end shares: the `make` options generated from `RunSettings`,
read back into settings, and the one error for a command line that cannot run."""

from __future__ import annotations

import argparse

from pydantic import ValidationError

from director.errors import UsageError
from director.settings import GROUPS, RunSettings, describe_settings_error, setting_fields

__all__ = ["UsageError", "add_settings_options", "settings_from"]


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    """One `--long-option` per `RunSettings` field, in the field's group, with its help."""
    groups = {key: parser.add_argument_group(title) if title else parser for key, title in GROUPS.items()}
    for field in setting_fields():
        target = groups[field.group]
        if field.kind is bool:
            target.add_argument(field.flag, dest=field.name, action="store_true", default=None, help=field.help)
        elif field.kind is list:
            target.add_argument(field.flag, dest=field.name, action="append", metavar=field.metavar, help=field.help)
        else:
            target.add_argument(field.flag, dest=field.name, type=field.kind if field.kind in (int, float) else str, metavar=field.metavar, help=field.help)


def settings_from(args: argparse.Namespace) -> RunSettings:
    """The options given on the command line, over the defaults."""
    given = {name: getattr(args, name) for name in RunSettings.model_fields if getattr(args, name, None) is not None}
    try:
        return RunSettings(**given)
    except ValidationError as error:
        raise UsageError(describe_settings_error(error)) from None
