"""A stored report file -> detected layout -> checked rows -> facts, in two streaming passes.

``plan_import`` looks at the first rows only. ``validate`` reads every row once, collecting at most
``MAX_ERRORS`` problems and the entities the file names; ``iter_facts`` reads the file again and yields the
facts for the loader. Neither pass keeps rows in memory.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.utils.translation import gettext as _

from analytics.services import AdFact
from connectors.imports import amazon, google_ads, meta_ads
from connectors.imports.detect import Header, find_header
from connectors.imports.errors import ImportProblem
from connectors.imports.readers import (
    Candidate,
    Source,
    first_undecodable_line,
    not_a_report,
    not_utf8,
    open_source,
)
from connectors.imports.rows import (
    ACCOUNT,
    AD_GROUP_ID,
    AD_GROUP_NAME,
    CAMPAIGN_ID,
    CAMPAIGN_NAME,
    CURRENCY,
    RowConfig,
    build_row_parser,
)
from connectors.imports.values import CellError, dates_evidence, numbers_evidence

MAX_ERRORS = 100
FORMATS = {"amazon": amazon, "google": google_ads, "meta": meta_ads}
FAMILIES = [amazon.FAMILY, google_ads.FAMILY, meta_ads.FAMILY]
COMMA_DECIMAL_LANGUAGES = frozenset({"de", "es", "pt", "fr", "it", "nl", "tr", "pl", "sv"})
DAY_FIRST_LANGUAGES = COMMA_DECIMAL_LANGUAGES
MONTH_FIRST_MARKETPLACES = frozenset({"", "US", "CA", "PH"})
NUMBER_FIELDS = ("cost", "sales", "impressions", "clicks", "orders", "units")
DATE_FIELDS = ("date", "start_date", "end_date", "date_range")


@dataclass
class Plan:
    source: Source
    candidate: Candidate
    header: Header
    format: str
    config: RowConfig

    @property
    def channel(self) -> str:
        return self.config.channel


@dataclass
class Validation:
    rows: int = 0
    errors: list[dict] = field(default_factory=list)
    truncated: bool = False
    first_day: date | None = None
    last_day: date | None = None
    accounts: dict[str, str] = field(default_factory=dict)  # account id -> currency
    campaigns: dict[tuple[str, str], str] = field(default_factory=dict)  # (account, campaign id) -> name
    ad_groups: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (+ ad group id) -> name


def _locale(header: Header, records: list[list[str]], marketplace: str) -> tuple[bool, bool]:
    """(comma_decimal, day_first): from the values in the sample when they are unambiguous, else from the
    header's language (German, Spanish, ... write 1.234,56 and 03.06.2026), else from the marketplace."""
    numbers = [header.columns[f] for f in NUMBER_FIELDS if f in header.columns]
    dates = [header.columns[f] for f in DATE_FIELDS if f in header.columns]
    votes = {"comma": 0, "dot": 0}
    day_votes = {True: 0, False: 0}
    for record in records[header.row :]:
        for index in numbers:
            if index < len(record) and (vote := numbers_evidence(record[index])):
                votes[vote] += 1
        for index in dates:
            if index < len(record):
                for part in record[index].split(" - "):
                    if (vote := dates_evidence(part)) is not None:
                        day_votes[vote] += 1
    if votes["comma"] != votes["dot"]:
        comma_decimal = votes["comma"] > votes["dot"]
    else:
        comma_decimal = header.language in COMMA_DECIMAL_LANGUAGES
    if day_votes[True] != day_votes[False]:
        day_first = day_votes[True] > day_votes[False]
    else:
        day_first = header.language in DAY_FIRST_LANGUAGES or marketplace not in MONTH_FIRST_MARKETPLACES
    return comma_decimal, day_first


def plan_import(path: Path, *, marketplace: str = "", source_ref: int = 0) -> Plan:
    """Detect the format and layout of the file at ``path``. Raises ImportProblem."""
    source = open_source(path)
    best: tuple[Candidate, Header] | None = None
    for candidate in source.candidates():
        header = find_header(candidate.records, FAMILIES)
        if header and (best is None or len(header.columns) > len(best[1].columns)):
            best = (candidate, header)
    if best is None:
        raise ImportProblem(
            _(
                "We did not recognise this report. We read Amazon Sponsored Products search term and campaign "
                "reports, Google Ads reports and Meta Ads Manager exports, as downloaded (CSV or XLSX)."
            )
        )
    candidate, header = best
    comma_decimal, day_first = _locale(header, candidate.records, marketplace)
    fmt, config = FORMATS[header.family.name].configure(
        header, marketplace=marketplace, source_ref=source_ref, comma_decimal=comma_decimal, day_first=day_first
    )
    return Plan(source=source, candidate=candidate, header=header, format=fmt, config=config)


def _error(plan: Plan, row: int, exc: CellError) -> dict:
    cells = plan.header.cells
    column = cells[exc.index] if exc.index is not None and exc.index < len(cells) else ""
    return {"row": row, "column": column, "message": exc.message}


class _Records:
    """The records below the header as ``(file row, cells)``; decoding trouble becomes an ImportProblem."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.stream = plan.source.records(plan.candidate)

    def __enter__(self):
        reader = iter(self.stream)
        start = self.plan.header.row
        try:
            for _skipped in itertools.islice(reader, start):
                pass
        except (UnicodeDecodeError, csv.Error) as exc:
            self.stream.close()
            raise self._problem(exc) from None
        return enumerate(reader, start=start + 1)

    def __exit__(self, exc_type, exc, tb):
        self.stream.close()
        if exc_type is not None and issubclass(exc_type, UnicodeDecodeError | csv.Error):
            raise self._problem(exc) from None
        return False

    def _problem(self, exc: Exception) -> ImportProblem:
        if isinstance(exc, UnicodeDecodeError):
            source = self.plan.source
            return not_utf8(first_undecodable_line(source.path, source.encoding))
        return not_a_report()


def validate(plan: Plan, *, progress: Callable[[int, float], None] | None = None, every: int = 50_000) -> Validation:
    """First pass: parse every row, count them, collect up to MAX_ERRORS problems and the entities named."""
    result = Validation()
    parse = build_row_parser(plan.config)
    accounts, campaigns, ad_groups, errors = result.accounts, result.campaigns, result.ad_groups, result.errors
    last_account = last_campaign = last_group = None
    rows = 0
    records = _Records(plan)
    with records as numbered:
        for row, cells in numbered:
            try:
                values = parse(cells)
            except CellError as exc:
                errors.append(_error(plan, row, exc))
                if len(errors) >= MAX_ERRORS:
                    result.truncated = True
                    break
                continue
            if values is None:
                continue
            rows += 1
            account, campaign_id, group_id = values[ACCOUNT], values[CAMPAIGN_ID], values[AD_GROUP_ID]
            if campaign_id is not last_campaign or account is not last_account:
                last_campaign, last_account, last_group = campaign_id, account, None
                if account not in accounts:
                    accounts[account] = values[CURRENCY]
                campaigns[(account, campaign_id)] = values[CAMPAIGN_NAME]
            if group_id and group_id is not last_group:
                last_group = group_id
                ad_groups[(account, campaign_id, group_id)] = values[AD_GROUP_NAME]
            if progress and rows % every == 0:
                progress(rows, records.stream.fraction())
    result.rows = rows
    days = set(parse.dates.values()) if parse.dates else {plan.config.fixed_date}
    if rows and days - {None}:
        result.first_day, result.last_day = min(days), max(days)
    return result


def iter_facts(plan: Plan) -> Iterator[AdFact]:
    """Second pass: the facts, in file order. The file was validated; a row failing now means it changed."""
    parse = build_row_parser(plan.config)
    fact = AdFact
    with _Records(plan) as numbered:
        for row, cells in numbered:
            try:
                values = parse(cells)
            except CellError as exc:
                error = _error(plan, row, exc)
                raise ImportProblem(error["message"], errors=[error]) from None
            if values is not None:
                yield fact(*values)
