"""Reading template.yaml: the one YAML loader for CloudFormation's short-form tags.

``!Ref X`` becomes ``{"Ref": "X"}`` and every other ``!Name`` becomes ``{"Fn::Name": ...}``, in the
long form CloudFormation itself uses (``!GetAtt A.B`` is ``{"Fn::GetAtt": ["A", "B"]}``). Used by
the bundle-size check and by the template tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


class _TemplateLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation short-form tags as plain intrinsic dicts."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as plain data (a SafeLoader subclass: no arbitrary objects)."""
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_TemplateLoader)
