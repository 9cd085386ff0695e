"""Bytes on disk -> records (lists of cell texts), streamed.

CSV: UTF-8 with or without BOM, UTF-16 LE/BE (BOM, or recognised by its NUL-byte pattern); comma, tab or
semicolon, whichever makes a known header appear. XLSX: openpyxl in read-only mode, the sheet whose header
matches. Nothing reads the whole file into memory: CSV is read line by line from the stored file and XLSX
row by row (``iter_rows``); only a sample of the first rows is kept for detection.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.utils.translation import gettext as _

from connectors.imports.errors import ImportProblem
from connectors.imports.values import cell_text

SAMPLE_BYTES = 256 * 1024
SAMPLE_RECORDS = 200
DELIMITERS = (",", "\t", ";")
XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 .xls

csv.field_size_limit(1024 * 1024)


def not_a_report() -> ImportProblem:
    return ImportProblem(
        _(
            "We could not read this file as a CSV or Excel report. Upload the report as you downloaded it "
            "from Amazon Ads, Google Ads or Meta Ads Manager (.csv or .xlsx)."
        )
    )


def not_utf8(row: int) -> ImportProblem:
    message = _(
        "The file is not UTF-8 text (first at row %(row)s). Download the report again, or save it as "
        "“CSV UTF-8” in Excel, and upload it again."
    ) % {"row": row}
    return ImportProblem(message, errors=[{"row": row, "column": "", "message": message}])


@dataclass
class Candidate:
    """One way of reading the file: a delimiter (CSV) or a sheet (XLSX), with its first records."""

    delimiter: str = ""
    sheet: str = ""
    records: list[list[str]] | None = None


@dataclass
class Source:
    path: Path
    kind: str  # "csv" or "xlsx"
    encoding: str = ""  # a Python codec for CSV: "utf-8", "utf-8-sig", "utf-16" (BOM), "utf-16-le"/"-be"
    size: int = 0

    # --- the sample used for detection ----------------------------------------------------------------
    def candidates(self) -> list[Candidate]:
        if self.kind == "xlsx":
            return self._sheet_candidates()
        text = self._sample_text()
        out = []
        for delimiter in DELIMITERS:
            try:
                records = list(itertools.islice(csv.reader(io.StringIO(text), delimiter=delimiter), SAMPLE_RECORDS))
            except csv.Error:
                continue
            out.append(Candidate(delimiter=delimiter, records=records))
        return out

    def _sample_text(self) -> str:
        with open(self.path, "rb") as f:
            sample = f.read(SAMPLE_BYTES)
        complete = len(sample) >= self.size
        if self.encoding.startswith("utf-16"):
            text = sample[: len(sample) - len(sample) % 2].decode(self.encoding, errors="replace")
        else:
            decoder = codecs.getincrementaldecoder(self.encoding)()
            try:
                text = decoder.decode(sample, final=complete)
            except UnicodeDecodeError as exc:
                raise not_utf8(sample[: exc.start].count(b"\n") + 1) from None
        if not complete and "\n" in text:  # drop the partial last line
            text = text[: text.rindex("\n") + 1]
        return text

    def _open_workbook(self):
        import openpyxl

        try:
            return openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # a damaged or disguised zip: openpyxl raises many kinds
            raise not_a_report() from exc

    def _sheet_candidates(self) -> list[Candidate]:
        workbook = self._open_workbook()
        try:
            out = []
            for sheet in workbook.worksheets:
                rows = sheet.iter_rows(max_row=SAMPLE_RECORDS, values_only=True)
                records = [[cell_text(v) for v in row] for row in rows]
                out.append(Candidate(sheet=sheet.title, records=records))
            return out
        finally:
            workbook.close()

    # --- streaming all records ------------------------------------------------------------------------
    def records(self, candidate: Candidate) -> RecordStream:
        return RecordStream(self, candidate)


class RecordStream:
    """Iterate every record of the file from its first line; ``fraction()`` tells how far it has got.

    CSV is decoded in blocks (fast); a ``UnicodeDecodeError`` reaches the caller, which asks
    :func:`first_undecodable_line` for the exact line."""

    def __init__(self, source: Source, candidate: Candidate):
        self.source = source
        self.candidate = candidate
        self._file = None
        self._workbook = None
        self._total_rows = 0
        self._rows = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self._file is not None:
            self._file.close()
        if self._workbook is not None:
            self._workbook.close()

    def fraction(self) -> float:
        if self._file is not None and self.source.size:
            try:
                return min(1.0, self._file.tell() / self.source.size)
            except (OSError, ValueError):
                return 0.0
        if self._total_rows:
            return min(1.0, self._rows / self._total_rows)
        return 0.0

    def __iter__(self) -> Iterator[list[str]]:
        if self.source.kind == "xlsx":
            return self._xlsx_rows()
        binary = open(self.source.path, "rb")  # noqa: SIM115 - closed by close()
        self._file = binary
        text = io.TextIOWrapper(binary, encoding=self.source.encoding, newline="")
        return csv.reader(text, delimiter=self.candidate.delimiter)

    def _xlsx_rows(self) -> Iterator[list[str]]:
        workbook = self.source._open_workbook()
        self._workbook = workbook
        sheet = workbook[self.candidate.sheet]
        self._total_rows = sheet.max_row or 0
        for row in sheet.iter_rows(values_only=True):
            self._rows += 1
            yield [cell_text(v) for v in row]


def first_undecodable_line(path: Path, encoding: str) -> int:
    """The 1-based line holding the first bytes that are not ``encoding`` (the fast reader decodes in blocks,
    so it cannot say which line it was on)."""
    if encoding.startswith("utf-16"):
        with open(path, "rb") as f:
            data = f.read()
        try:
            data.decode(encoding)
        except UnicodeDecodeError as exc:
            return data[: exc.start].decode(encoding, errors="replace").count("\n") + 1
        return 1
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 1


def open_source(path: Path) -> Source:
    """Look at the first bytes: Excel workbook, UTF-8 or UTF-16 text, or something we cannot read."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head.strip(b" \t\r\n\x00" + codecs.BOM_UTF8 + codecs.BOM_UTF16_LE + codecs.BOM_UTF16_BE):
        raise ImportProblem(_("The file is empty."))
    if head.startswith(XLSX_MAGIC):
        if not zipfile.is_zipfile(path):
            raise not_a_report()
        return Source(path=path, kind="xlsx", size=size)
    if head.startswith(OLE_MAGIC):
        raise ImportProblem(
            _("Excel 97–2003 files (.xls) cannot be read. Save the file as .xlsx or CSV and upload it again.")
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return Source(path=path, kind="csv", encoding="utf-16", size=size)
    if head.startswith(codecs.BOM_UTF8):
        return Source(path=path, kind="csv", encoding="utf-8-sig", size=size)
    if b"\x00" in head:
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > len(odd) * 0.4 and even.count(0) < len(even) * 0.1:
            return Source(path=path, kind="csv", encoding="utf-16-le", size=size)
        if even.count(0) > len(even) * 0.4 and odd.count(0) < len(odd) * 0.1:
            return Source(path=path, kind="csv", encoding="utf-16-be", size=size)
        raise not_a_report()
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 13))
    if controls > len(head) * 0.01:
        raise not_a_report()
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as exc:  # text (no NULs, no control bytes) in a legacy encoding: Latin-1, Shift-JIS
        raise not_utf8(head[: exc.start].count(b"\n") + 1) from None
    return Source(path=path, kind="csv", encoding="utf-8", size=size)
