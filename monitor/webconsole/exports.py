"""Lists as CSV (UTF-8 with BOM, so Excel opens Chinese correctly) and XLSX (openpyxl, write-only).

openpyxl (~200 ms, ~20 MB) is imported when a workbook is made, not with
this module: the console and ``sunlight findings``/``units`` import it for CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

Cell = str | int | float | None


def csv_chunks(headers: Sequence[str], rows: Iterable[Sequence[Cell]], every: int = 500) -> Iterator[bytes]:
    """The CSV in pieces, so a long export streams instead of being built in memory."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    buf.write("\ufeff")
    writer.writerow(headers)
    for i, row in enumerate(rows, start=1):
        writer.writerow(["" if c is None else c for c in row])
        if i % every == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


def xlsx_bytes(sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence[Cell]]]]) -> bytes:
    """A workbook with one sheet per (title, headers, rows)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    for title, headers, rows in sheets:
        ws = wb.create_sheet(title=title[:31])
        ws.append(list(headers))
        for row in rows:
            ws.append(list(row))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
