"""template.yaml as SAM translates it (offline), for checkov: `python infra/translate.py OUT`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.contract.conftest import load_template, translate


def translated_with_suppressions() -> dict[str, Any]:
    """The translation, with each resource's `Metadata.checkov` carried over from the template.

    SAM drops a function's Metadata when it expands it; the suppressions (and their reasons) are
    written in template.yaml, so they are copied to the resource of the same logical id.
    """
    source = load_template()
    result = translate(source)
    for logical_id, resource in source["Resources"].items():
        checkov = resource.get("Metadata", {}).get("checkov")
        if checkov and logical_id in result["Resources"]:
            result["Resources"][logical_id].setdefault("Metadata", {})["checkov"] = checkov
    return result


def main(argv: list[str]) -> int:
    """Write the translated template to the path given."""
    if len(argv) != 1:
        print("usage: python infra/translate.py OUT.json", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(translated_with_suppressions(), indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
