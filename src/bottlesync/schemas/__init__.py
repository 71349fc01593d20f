"""JSON Schemas shipped with the package (config, catalogue entry, manifest)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any


@cache
def validator(name: str) -> Any:
    """A compiled validator for `schemas/<name>.schema.json` (compiled once per process).

    jsonschema is imported here, not at the top: a run whose input is plainly valid never pays
    for it (~0.1 s of imports).
    """
    from importlib import resources

    from jsonschema import Draft202012Validator

    text = resources.files(__package__).joinpath(f"{name}.schema.json").read_text("utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def first_error(name: str, instance: object) -> str | None:
    """The most relevant violation as '<json path>: <message>', or None when valid."""
    from jsonschema.exceptions import best_match

    error = best_match(validator(name).iter_errors(instance))
    if error is None:
        return None
    path = ".".join(str(p) for p in error.absolute_path) or "(top)"
    return f"{path}: {error.message}"
