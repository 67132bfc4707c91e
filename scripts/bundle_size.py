"""Unzipped size of every function and layer that `sam build` produced, against Lambda's limit.

Lambda refuses a function whose code plus layers exceed 250 MB unzipped (262,144,000 bytes), so a
function's total here is its own folder plus the folders of the layers it uses. Reads the built
template (``.aws-sam/build/template.yaml``) to find the folders and which layers each function uses.

    python -m scripts.bundle_size [--build-dir .aws-sam/build] [--limit-mb 250]

Exits 1 when a function's total is over the limit, 2 when the build output is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.cfn_template import load_template

MB = 1024 * 1024  # Lambda's "250 MB" is 250 * 1024 * 1024 = 262,144,000 bytes


@dataclass(frozen=True)
class Artifact:
    logical_id: str
    kind: str  # "function" or "layer"
    path: Path
    size: int


def tree_size(root: Path) -> int:
    """Bytes of all regular files under root (symlinks are not followed)."""
    total = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            stat = os.lstat(os.path.join(dirpath, filename))
            total += stat.st_size
    return total


def built_artifacts(build_dir: Path, template: dict[str, Any]) -> dict[str, Artifact]:
    artifacts: dict[str, Artifact] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        kind = {
            "AWS::Serverless::Function": "function",
            "AWS::Serverless::LayerVersion": "layer",
        }.get(resource.get("Type"))
        props = resource.get("Properties") or {}
        uri = props.get("CodeUri" if kind == "function" else "ContentUri")
        if kind is None or props.get("PackageType") == "Image" or not isinstance(uri, str):
            continue
        path = build_dir / uri
        if not path.is_dir():
            raise FileNotFoundError(f"{logical_id}: no build output at {path}")
        artifacts[logical_id] = Artifact(logical_id, kind, path, tree_size(path))
    return artifacts


def layers_of(logical_id: str, template: dict[str, Any]) -> list[Any]:
    """A function's layers: the Globals list followed by its own (SAM merges the two lists)."""
    global_layers = ((template.get("Globals") or {}).get("Function") or {}).get("Layers") or []
    own = (template["Resources"][logical_id].get("Properties") or {}).get("Layers") or []
    return [*global_layers, *own]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument("--limit-mb", type=float, default=250.0)
    args = parser.parse_args(argv)

    template_path = args.build_dir / "template.yaml"
    if not template_path.is_file():
        print(f"no built template at {template_path}: run `sam build` first", file=sys.stderr)
        return 2
    template = load_template(template_path)
    try:
        artifacts = built_artifacts(args.build_dir, template)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 2

    print(f"Unzipped sizes under {args.build_dir} (1 MB = {MB:,} bytes)")
    for artifact in sorted(artifacts.values(), key=lambda a: (a.kind, a.logical_id)):
        print(f"  {artifact.kind:<8} {artifact.logical_id:<24} {artifact.size / MB:9.2f} MB")

    totals: dict[str, int] = {}
    for artifact in artifacts.values():
        if artifact.kind != "function":
            continue
        total = artifact.size
        for layer in layers_of(artifact.logical_id, template):
            ref = layer.get("Ref") if isinstance(layer, dict) else None
            if ref in artifacts:
                total += artifacts[ref].size
            else:
                print(f"  note: {artifact.logical_id} uses layer {layer!r}, not counted here")
        totals[artifact.logical_id] = total
    if not totals:
        print("no functions in the build output", file=sys.stderr)
        return 2

    limit = args.limit_mb * MB
    print(f"Function + layers (limit {args.limit_mb:g} MB)")
    for name in sorted(totals):
        print(f"  {name:<33} {totals[name] / MB:9.2f} MB")
    largest = max(totals, key=lambda name: totals[name])
    margin = (limit - totals[largest]) / MB
    verdict = (
        f"{margin:.2f} MB under the limit" if margin >= 0 else f"{-margin:.2f} MB OVER the limit"
    )
    print(f"Largest: {largest} {totals[largest] / MB:.2f} MB, {verdict}")
    over = sorted(name for name, total in totals.items() if total > limit)
    if over:
        print(f"over the {args.limit_mb:g} MB unzipped limit: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
