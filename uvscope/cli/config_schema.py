"""`uvscope config schema scan|rig`: the JSON schema of the scan and rig files.

Every key, its type, its default, its limits and what it means, generated from the same
pydantic models that validate the files, so it can never drift from what is accepted.
Editors that read JSON schema (VS Code with Even Better TOML, taplo) can check a file with it.
"""

from __future__ import annotations

import json

import click
from pydantic import BaseModel

from uvscope.config import RigConfig, ScanConfig

_MODELS: dict[str, type[BaseModel]] = {"scan": ScanConfig, "rig": RigConfig}


@click.group()
def config() -> None:
    """Scan and rig file formats."""


@config.command()
@click.argument("kind", type=click.Choice(sorted(_MODELS)))
def schema(kind: str) -> None:
    """Print the JSON schema of a scan file (scan) or a rig file (rig)."""
    doc = _MODELS[kind].model_json_schema()
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    click.echo(json.dumps(doc, indent=2, default=str))
