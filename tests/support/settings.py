"""What entrypoints.settings.Settings reads from the environment, for the checks of the deployment files."""

from __future__ import annotations

from pydantic import AliasChoices

from entrypoints.settings import Settings


def setting_names() -> set[str]:
    """The environment variables Settings reads: PARLEY_<FIELD>, or the field's validation aliases."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for field, info in Settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice).upper() for choice in alias.choices)
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{field}".upper())
    return names
