#!/usr/bin/env python3
"""Regenerate crates/kms-idl/kmd/*.kmd.json from the fused Kurento IDL files.

Keeps the interface facts (classes, methods, properties, events, types) and drops
every "doc" string, so the project carries the contract but not KMS's prose.
Usage: tools/strip_kmd.py ../shared/kurento-api/fused crates/kms-idl/kmd
"""
import json
import pathlib
import sys


def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in ("doc", "code")}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


src, dst = map(pathlib.Path, sys.argv[1:3])
dst.mkdir(parents=True, exist_ok=True)
for path in sorted(src.glob("*.kmd.json")):
    data = strip(json.loads(path.read_text()))
    (dst / path.name).write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(path.name)
