"""Compare two ``sunlight scan --format json`` outputs as sets of findings.

Used to prove that a performance change changed nothing a user can see: each
line is parsed and re-serialised with sorted keys, so key order, whitespace
and line order do not matter, but every value (summary, deadline, evidence,
skipped days, ...) must be equal.

    python bench/compare_findings.py before.jsonl after.jsonl

Exit 0 when the two hold the same findings, 1 otherwise (the first
differences are printed, by fingerprint).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path


def load(path: Path) -> Counter[str]:
    with path.open(encoding="utf-8") as f:
        return Counter(json.dumps(json.loads(line), sort_keys=True, ensure_ascii=False)
                       for line in f if line.strip())


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    a, b = (load(Path(p)) for p in argv)
    only_a, only_b = a - b, b - a
    print(f"{argv[0]}: {sum(a.values()):,} findings; {argv[1]}: {sum(b.values()):,} findings")
    if not only_a and not only_b:
        print("identical")
        return 0
    print(f"different: {sum(only_a.values()):,} only in the first, "
          f"{sum(only_b.values()):,} only in the second")
    by_fp = {json.loads(s)["fingerprint"]: s for s in only_b}
    for s in list(only_a)[:5]:
        fp = json.loads(s)["fingerprint"]
        print(f"- {s}\n+ {by_fp.get(fp, '(missing)')}")
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
