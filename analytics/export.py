"""CSV and XLSX downloads of what a dashboard table shows.

Every page that exports builds the same rows it renders and calls ``export_response``; the file carries the
view's period and currency in its name so two downloads are never confused.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal

from django.http import HttpResponse
from django.utils.text import slugify
from openpyxl import Workbook

FORMATS = ("csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return float(value)  # a number a spreadsheet can sum (amounts carry at most 4 decimals)
    if isinstance(value, date | datetime | int | float | str):
        return value
    return str(value)


def filename_for(name: str, *, start: date, end: date, currency: str, fmt: str) -> str:
    return f"chuhai-{slugify(name)}-{start.isoformat()}-{end.isoformat()}-{slugify(currency)}.{fmt}"


def export_response(
    *,
    name: str,
    columns: Sequence[tuple[str, str]],
    rows: Iterable[dict],
    fmt: str,
    start: date,
    end: date,
    currency: str,
) -> HttpResponse:
    """``columns``: (row key, header) pairs; ``rows``: dicts. Amounts stay numbers (not formatted text) so a
    spreadsheet can sum them; a missing ratio is an empty cell."""
    if fmt not in FORMATS:
        raise ValueError(fmt)
    headers = [str(label) for _key, label in columns]
    keys = [key for key, _label in columns]
    filename = filename_for(name, start=start, end=end, currency=currency, fmt=fmt)
    if fmt == "csv":
        buffer = io.StringIO()
        buffer.write("\ufeff")  # so Excel opens UTF-8 (Chinese names) correctly
        writer = csv.writer(buffer)
        writer.writerow(headers)
        for row in rows:
            writer.writerow(["" if row.get(key) is None else row.get(key) for key in keys])
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    else:
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(title=str(name)[:31] or "export")
        sheet.append(headers)
        for row in rows:
            sheet.append([_cell(row.get(key)) for key in keys])
        buffer = io.BytesIO()
        workbook.save(buffer)
        response = HttpResponse(buffer.getvalue(), content_type=XLSX_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
