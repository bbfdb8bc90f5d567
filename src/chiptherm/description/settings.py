"""The base of every validated input document (stack parts, training configs, problems), and
reading one from YAML with errors that name the file, line and key."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from chiptherm.description.stack_io import explain_validation, read_yaml
from chiptherm.errors import InputError


class Settings(BaseModel):
    """Strict, immutable input: unknown keys are errors, NaN and infinity are rejected."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, use_attribute_docstrings=True
    )


S = TypeVar("S", bound=Settings)


def load_settings(path: str | Path, kind: type[S], what: str) -> S:
    """Read the YAML file ``path`` as a ``kind`` document (``what`` names it in errors)."""
    path = Path(path)
    data, text = read_yaml(path, InputError)
    if not isinstance(data, dict):
        raise InputError(f"{what} must be a YAML mapping", source=str(path))
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        raise explain_validation(exc, text, str(path), InputError) from None
