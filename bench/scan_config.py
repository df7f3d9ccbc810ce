"""The config the case benches scan with: the demo's check settings over one bench source.

One text for ``bench_cases``, ``bench_story``, ``compare_findings``,
``bench_incremental`` and ``peer_case_overdue``, so their findings are the
same findings (what makes their figures comparable). Standard library only:
``bench_story``'s parent process imports it and must stay small.
"""

from __future__ import annotations

CHECKS = """\
checks:
  case_due_soon: {warn_remaining: 2}
  extension_invalid: {max_extension: 10}
  overrides:
    - match: {item_code: YJ-002}
      case_due_soon: {warn_remaining: 5}
routes: none  # a scan issues no letters; the config is refused without routes
"""


def scan_config(state_url: str, source_url: str, *, chunk: int | None = None,
                columnar: bool | None = None, source_extra: str = "", written_by: str = "") -> str:
    """The YAML of one scan: state store, the ``approvals`` source, the demo's check settings."""
    lines = [f"# written by {written_by}: the demo's check settings over the bench source"] \
        if written_by else []
    lines += ["timezone: Asia/Shanghai", "state:", f"  url: {state_url}", "sources:",
              "  approvals:", f'    url: "{source_url}"']
    if chunk is not None:
        lines.append(f"    chunk_size: {chunk}")
    if columnar is not None:
        lines.append(f"    columnar: {'true' if columnar else 'false'}")
    if source_extra:
        lines.append(source_extra.rstrip("\n"))
    return "\n".join(lines) + "\n" + CHECKS
