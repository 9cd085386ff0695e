"""Every write to ``FxRate``: the ECB refresh and the staff's manual CSV upload.

Who wins a (date, base, quote): a ``manual`` row is a deliberate decision by staff (a correction, or a
currency the ECB does not publish), so the ECB refresh never overwrites it; a manual upload overwrites
anything. Both writers take the same transaction-level advisory lock, so a refresh that read "no manual
row here" cannot overwrite a manual row committed a moment later.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from accounts.services import ServiceError
from analytics import marks
from analytics.fx import ecb
from analytics.models import FxRate

logger = logging.getLogger(__name__)

EUR = "EUR"
UNIQUE_FIELDS = ["date", "base", "quote"]
RATE_PLACES = Decimal("1e-10")  # FxRate.rate has 10 decimal places
FX_WRITE_LOCK = 0x4678_5261_7465  # "FxRate": pg_advisory_xact_lock key shared by both writers
CSV_COLUMNS = ("date", "base", "quote", "rate")
CSV_MAX_BYTES = 20 * 1024 * 1024
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CODE = re.compile(r"^[A-Z]{3}$")


def _lock_fx_writes() -> None:
    """Serialize FxRate writers until the current transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FX_WRITE_LOCK])


# --- ECB -----------------------------------------------------------------------------------------------


def fx_rates_refresh(*, days: str = "daily") -> int:
    """Download an ECB feed (``daily``, ``90d`` or ``hist``) and upsert its rates as ``source=ecb``.

    Returns how many rows were inserted or changed: re-running with the same feed returns 0 and writes
    nothing; a rate the ECB corrected is overwritten; a ``manual`` row for the same key is left alone.
    Network errors propagate (``httpx.TransportError``, ``ecb.EcbTransientError``) for the task to retry.
    """
    rates = ecb.fetch_rates(days)  # outside any transaction: no network call while holding a lock
    return fx_rates_store_ecb(rates=rates)


def fx_rates_store_ecb(*, rates: Iterable[ecb.EcbRate]) -> int:
    """Upsert parsed ECB rates; rows already equal are skipped and ``manual`` rows are kept."""
    incoming: dict[tuple[date, str], Decimal] = {}
    for on, quote, rate in rates:
        incoming[(on, quote)] = rate.quantize(RATE_PLACES)  # what the column stores, so equality holds
    if not incoming:
        return 0
    dates = [on for on, _quote in incoming]
    quotes = {quote for _on, quote in incoming}
    with transaction.atomic():
        _lock_fx_writes()
        existing = {
            (on, quote): (rate, source)
            for on, quote, rate, source in FxRate.objects.filter(
                base=EUR, quote__in=quotes, date__range=(min(dates), max(dates))
            ).values_list("date", "quote", "rate", "source")
        }
        to_write, kept_manual = [], 0
        for (on, quote), rate in incoming.items():
            current = existing.get((on, quote))
            if current is not None:
                if current[1] == FxRate.RateSource.MANUAL:
                    kept_manual += 1
                    continue
                if current[0] == rate:
                    continue
            to_write.append(FxRate(date=on, base=EUR, quote=quote, rate=rate, source=FxRate.RateSource.ECB))
        marks.fx_rates_changed()
        FxRate.objects.bulk_create(
            to_write,
            update_conflicts=True,
            unique_fields=UNIQUE_FIELDS,
            update_fields=["rate", "source"],
            batch_size=2000,
        )
    logger.info(
        "ECB rates: %d received, %d inserted or changed, %d manual rows kept",
        len(incoming),
        len(to_write),
        kept_manual,
    )
    return len(to_write)


# --- manual CSV upload ---------------------------------------------------------------------------------


class FxRateImportError(ServiceError):
    """The CSV was refused and nothing was imported. ``errors`` lists ``{row, column, message}``.

    ``row`` is the line number in the file (the header is row 1); ``column`` is the column's name, or
    ``None`` when the problem is the whole row or the whole file.
    """

    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__([ValidationError(_describe(error)) for error in errors])


def _describe(error: dict) -> str:
    if error["column"]:
        return _("Row %(row)s, column %(column)s: %(message)s") % error
    return _("Row %(row)s: %(message)s") % error


def fx_rates_import_csv(*, file) -> int:
    """Import staff rates from CSV ``date,base,quote,rate`` (header required) as ``source=manual``.

    ``file`` is a binary or text file object (an upload, ``open(path, "rb")``) or the bytes themselves.
    Rates are "1 base = rate quote" and, like the ECB's, are stored against the euro: ``base`` must be
    EUR, so every rate can take part in cross rates (USD->VND = EUR->VND / EUR->USD). All or nothing:
    any problem raises ``FxRateImportError`` listing every problem found, and no row is written.
    A manual row replaces an existing row (ECB or manual) for the same date and pair.
    """
    rows = _parse_csv(_read_text(file))
    with transaction.atomic():
        _lock_fx_writes()
        marks.fx_rates_changed()
        FxRate.objects.bulk_create(
            [
                FxRate(date=on, base=base, quote=quote, rate=rate, source=FxRate.RateSource.MANUAL)
                for on, base, quote, rate in rows
            ],
            update_conflicts=True,
            unique_fields=UNIQUE_FIELDS,
            update_fields=["rate", "source"],
            batch_size=2000,
        )
    logger.info("Manual FX rates imported: %d rows", len(rows))
    return len(rows)


def _read_text(file) -> str:
    data = file.read(CSV_MAX_BYTES + 1) if hasattr(file, "read") else file
    if len(data) > CSV_MAX_BYTES:
        raise FxRateImportError([{"row": 1, "column": None, "message": _("The file is larger than 20 MB.")}])
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")  # spreadsheets often save a byte-order mark
        except UnicodeDecodeError:
            raise FxRateImportError([{"row": 1, "column": None, "message": _("The file is not UTF-8 text.")}]) from None
    return data.removeprefix("\ufeff")


def _parse_csv(text: str) -> list[tuple[date, str, str, Decimal]]:
    if not text.strip():
        raise FxRateImportError([{"row": 1, "column": None, "message": _("The file is empty.")}])
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in next(reader)]
    errors: list[dict] = []
    for column in CSV_COLUMNS:
        if column not in header:
            errors.append({"row": 1, "column": column, "message": _("The header has no such column.")})
    for column in {name for name in header if header.count(name) > 1}:
        errors.append({"row": 1, "column": column, "message": _("The column appears more than once.")})
    if errors:
        raise FxRateImportError(errors)
    index = {column: header.index(column) for column in CSV_COLUMNS}

    rows: list[tuple[date, str, str, Decimal]] = []
    seen: dict[tuple[date, str, str], int] = {}
    for values in reader:
        line = reader.line_num
        if not any(value.strip() for value in values):
            continue  # blank line
        if len(values) != len(header):
            errors.append(
                {
                    "row": line,
                    "column": None,
                    "message": _("Expected %(expected)d values, found %(found)d.")
                    % {"expected": len(header), "found": len(values)},
                }
            )
            continue
        parsed, row_errors = {}, []
        for column, parser in _PARSERS:
            try:
                parsed[column] = parser(values[index[column]].strip())
            except ValueError as exc:
                row_errors.append({"row": line, "column": column, "message": str(exc)})
        base, quote = parsed.get("base"), parsed.get("quote")
        if base and base != EUR:
            message = _("Rates are stored per 1 EUR, like the ECB's: write this row as EUR to %(code)s.")
            row_errors.append({"row": line, "column": "base", "message": message % {"code": quote or "..."}})
        elif base and base == quote:
            message = _("The quote currency must differ from the base currency.")
            row_errors.append({"row": line, "column": "quote", "message": message})
        if row_errors:
            errors.extend(row_errors)
            continue
        key = (parsed["date"], base, quote)
        if key in seen:
            message = _("Duplicate of row %(row)d (same date, base and quote).") % {"row": seen[key]}
            errors.append({"row": line, "column": None, "message": message})
            continue
        seen[key] = line
        rows.append((parsed["date"], base, quote, parsed["rate"]))
    if errors:
        raise FxRateImportError(errors)
    if not rows:
        raise FxRateImportError([{"row": 2, "column": None, "message": _("The file has no rates.")}])
    return rows


def _parse_date(value: str) -> date:
    if not _ISO_DATE.match(value):
        raise ValueError(_("Not a date in YYYY-MM-DD form: %(value)r.") % {"value": value})
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(_("Not a real date: %(value)r.") % {"value": value}) from None


def _parse_code(value: str) -> str:
    code = value.upper()
    if not _CODE.match(code):
        raise ValueError(_("Not a 3-letter ISO 4217 currency code: %(value)r.") % {"value": value})
    return code


def _parse_rate(value: str) -> Decimal:
    try:
        rate = Decimal(value)
    except InvalidOperation:
        raise ValueError(_("Not a number: %(value)r.") % {"value": value}) from None
    if not rate.is_finite():
        raise ValueError(_("Not a number: %(value)r.") % {"value": value})
    if rate <= 0:
        raise ValueError(_("The rate must be greater than 0, not %(value)s.") % {"value": value})
    if rate >= ecb.MAX_RATE:
        raise ValueError(_("The rate is too large: %(value)s.") % {"value": value})
    if rate != rate.quantize(RATE_PLACES):
        raise ValueError(_("At most 10 decimal places are stored: %(value)s.") % {"value": value})
    return rate


_PARSERS = (("date", _parse_date), ("base", _parse_code), ("quote", _parse_code), ("rate", _parse_rate))
