"""The dashboard view in the URL: presets, custom ranges, comparison periods, bad input, round trips."""

from datetime import date

import pytest
from django.http import QueryDict

from analytics.query import MAX_DAYS, DashboardQuery, preset_range

TODAY = date(2026, 11, 25)  # a Wednesday


def parse(qs, **kwargs):
    return DashboardQuery.from_params(QueryDict(qs), today=TODAY, **kwargs)


@pytest.mark.parametrize(
    ("preset", "start", "end"),
    [
        ("7d", date(2026, 11, 19), TODAY),
        ("14d", date(2026, 11, 12), TODAY),
        ("30d", date(2026, 10, 27), TODAY),
        ("90d", date(2026, 8, 28), TODAY),
        ("365d", date(2025, 11, 26), TODAY),
        ("mtd", date(2026, 11, 1), TODAY),
        ("last_month", date(2026, 10, 1), date(2026, 10, 31)),
        ("qtd", date(2026, 10, 1), TODAY),
        ("ytd", date(2026, 1, 1), TODAY),
    ],
)
def test_presets(preset, start, end):
    query = parse(f"range={preset}")
    assert (query.start, query.end, query.range) == (start, end, preset)
    assert preset_range(preset, TODAY) == (start, end)


def test_defaults():
    query = parse("")
    assert (query.range, query.start, query.end, query.compare, query.currency) == (
        "30d",
        date(2026, 10, 27),
        TODAY,
        "previous",
        "home",
    )
    assert query.days == 30
    assert query.channels == query.marketplaces == query.campaigns == query.products == ()


def test_last_month_in_january_is_december():
    assert preset_range("last_month", date(2027, 1, 15)) == (date(2026, 12, 1), date(2026, 12, 31))


def test_custom_range_and_swapped_dates():
    query = parse("range=custom&start=2026-11-01&end=2026-11-03")
    assert (query.start, query.end, query.days) == (date(2026, 11, 1), date(2026, 11, 3), 3)
    swapped = parse("range=custom&start=2026-11-03&end=2026-11-01")
    assert (swapped.start, swapped.end) == (date(2026, 11, 1), date(2026, 11, 3))


@pytest.mark.parametrize(
    "qs",
    [
        "range=custom&start=2026-13-01&end=2026-11-03",
        "range=custom&start=&end=2026-11-03",
        "range=custom",
        "range=forever",
        "range=<script>",
    ],
)
def test_bad_input_falls_back_to_the_default_range(qs):
    query = parse(qs)
    assert (query.range, query.start, query.end) == ("30d", date(2026, 10, 27), TODAY)


def test_bad_compare_and_currency_fall_back():
    query = parse("compare=decade&currency=btc")
    assert (query.compare, query.currency) == ("previous", "home")


def test_a_very_long_custom_range_is_capped():
    query = parse("range=custom&start=2000-01-01&end=2026-11-25")
    assert query.days == MAX_DAYS
    assert query.end == TODAY


def test_comparison_periods():
    query = parse("range=custom&start=2026-11-01&end=2026-11-07")
    assert query.comparison == (date(2026, 10, 25), date(2026, 10, 31))
    year = parse("range=custom&start=2026-11-01&end=2026-11-07&compare=year")
    assert year.comparison == (date(2025, 11, 1), date(2025, 11, 7))
    assert parse("compare=none").comparison is None


def test_year_comparison_of_29_february():
    query = parse("range=custom&start=2028-02-29&end=2028-02-29&compare=year")
    assert query.comparison == (date(2027, 2, 28), date(2027, 2, 28))


def test_filters_are_deduplicated_sorted_and_trimmed():
    query = parse("channel=meta&channel=google_ads&channel=meta&marketplace=%20US%20&marketplace=&campaign=C1")
    assert query.channels == ("google_ads", "meta")
    assert query.marketplaces == ("US",)
    assert query.campaigns == ("C1",)


def test_querystring_round_trips():
    qs = "range=custom&start=2026-11-01&end=2026-11-03&compare=year&currency=original&channel=meta&marketplace=DE"
    query = parse(qs + "&metric=roas", extra_keys=("metric",))
    again = parse(query.querystring(), extra_keys=("metric",))
    assert again == query
    assert query.querystring() == (
        "range=custom&start=2026-11-01&end=2026-11-03&compare=year&currency=original&channel=meta&marketplace=DE"
        "&metric=roas"
    )


def test_querystring_with_changes():
    query = parse("range=7d&channel=meta&page=3", extra_keys=("page",))
    assert query.querystring() == "range=7d&channel=meta&page=3"
    assert query.querystring(page=None) == "range=7d&channel=meta"
    assert query.querystring(channels=[], marketplaces=["US"]) == "range=7d&marketplace=US&page=3"
    assert query.querystring(range="30d") == "range=30d&channel=meta&page=3"


def test_cache_key_ignores_parameter_order():
    a = parse("channel=meta&marketplace=US")
    b = parse("marketplace=US&channel=meta")
    assert a.cache_key() == b.cache_key()
    assert a.cache_key() != parse("marketplace=DE&channel=meta").cache_key()
