#!/usr/bin/env python3
"""Leaf fields of runtime-spec's config.json (Linux and platform-independent parts), from its JSON
schema, one per line: `[]` is any element of an array, `<key>` any key of a map.

Usage: fields-from-schema.py <runtime-spec checkout>/schema <version> > runtime-spec-<version>-fields.txt
"""
import glob
import json
import os
import sys

OTHER_PLATFORMS = ("windows", "solaris", "vm", "zos", "freebsd")


def main(schema_dir, version):
    docs = {os.path.basename(f): json.load(open(f)) for f in glob.glob(os.path.join(schema_dir, "*.json"))}

    def resolve(ref, cur):
        name, _, frag = ref.partition("#")
        node, name = docs[name or cur], name or cur
        for part in frag.strip("/").split("/"):
            if part:
                node = node[part]
        return node, name

    leaves = []

    def walk(node, cur, path, depth=0):
        if depth > 30:
            return
        if "$ref" in node:
            target, name = resolve(node["$ref"], cur)
            return walk(target, name, path, depth + 1)
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in node.get(key, []):
                walk(sub, cur, path, depth + 1)
            if key in node and key != "allOf":
                return
        extra = node.get("additionalProperties")
        if "properties" in node or "patternProperties" in node or isinstance(extra, dict):
            for name, sub in node.get("properties", {}).items():
                walk(sub, cur, path + [name], depth + 1)
            for sub in list(node.get("patternProperties", {}).values()) + ([extra] if isinstance(extra, dict) else []):
                walk(sub, cur, path + ["<key>"], depth + 1)
            return
        if isinstance(node.get("items"), dict):
            return walk(node["items"], cur, path[:-1] + [path[-1] + "[]"], depth + 1)
        leaves.append(".".join(path))

    walk(docs["config-schema.json"], "config-schema.json", [])
    fields = []
    for leaf in leaves:
        leaf = leaf[:-2] if leaf.endswith("[]") else leaf
        if leaf and leaf.split(".")[0] not in OTHER_PLATFORMS and leaf not in fields:
            fields.append(leaf)
    # An array listed both as a leaf and through its items' fields: keep the fields.
    fields = [f for f in fields if not any(g.startswith(f + "[].") for g in fields)]
    print(f"# The fields of runtime-spec v{version} config.json for Linux (and the platform-independent ones),")
    print("# one leaf per line, as schema/config-schema.json, config-linux.json and defs*.json define them")
    print("# (`[]` is any element of an array, `<key>` any key of a map). Written by")
    print(f"# spec-tests/data/fields-from-schema.py from the runtime-spec repository at tag v{version};")
    print("# fields.rs checks that every line has a case.")
    print("\n".join(fields))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
