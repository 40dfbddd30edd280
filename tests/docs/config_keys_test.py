#!/usr/bin/env python3
"""Every config key the loader accepts is documented in docs/config.md.

The loader names the keys of each mapping in one place: the key list given to
`Fields` (conf/*.cpp), which refuses any other key. Each of those keys must
appear in docs/config.md inside a code span (`key`, `a.key`, `{ key, ... }`).
A key added to the loader without a word in the docs fails here, named with
its file and mapping."""
import glob
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIELDS = re.compile(r'\bFields\s+\w+\s*\(([^;]*?)\{([^{};]*)\}\s*\)\s*;', re.S)


def loader_keys() -> list[tuple[str, str, str]]:
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "conf", "*.cpp"))):
        src = open(path).read()
        for m in FIELDS.finditer(src):
            kind = re.findall(r'"([^"]*)"', m.group(1))
            for key in re.findall(r'"([^"]+)"', m.group(2)):
                out.append((os.path.relpath(path, ROOT), kind[-1] if kind else "?", key))
    return out


def documented_words(doc: str) -> set[str]:
    words: set[str] = set()
    for span in re.findall(r"`([^`\n]+)`", doc):
        words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", span))
    return words


def main() -> int:
    keys = loader_keys()
    # The scan must find the loader's mappings, or it proves nothing.
    kinds = {k for _, k, _ in keys}
    for want in ("listener", "cluster", "route", "tls", "dns", "mdns", "runtime", "health_check"):
        if want not in kinds:
            print(f"FAIL: found no Fields key list for '{want}' in conf/*.cpp (scan broken?)")
            return 1
    words = documented_words(open(os.path.join(ROOT, "docs", "config.md")).read())
    missing = [(f, kind, key) for f, kind, key in keys if key not in words]
    for f, kind, key in missing:
        print(f"FAIL: {f}: key '{key}' of {kind or 'the top level'} is not in docs/config.md")
    print(f"{len(keys)} loader keys in {len(kinds)} mappings; {len(missing)} undocumented")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
