"""Marketing calendar: event dates for 2025-2030 against published dates, which events apply to which
marketplace, the budget and bid suggestions around an event, and the holiday end-date warning."""

from datetime import date, timedelta

import pytest

from campaigns.calendar import (
    COOL_DOWN,
    EVENT,
    EVENTS,
    FALLBACK_EVENTS,
    HOLIDAY,
    MARKET_EVENTS,
    RAMP_UP,
    RELIGIOUS,
    SHOPPING,
    Event,
    event_suggestions,
    events,
    holiday_campaign_warnings,
    upcoming,
)

# The marketplaces sellers sell on today; each must have its own row in the table.
PLANNED_MARKETPLACES = [
    "US", "CA", "UK", "DE", "FR", "IT", "ES", "JP", "AU", "SG", "MY", "TH", "ID", "PH", "VN", "SA", "AE", "IN", "BR",
    "MX", "CN",
]  # fmt: skip


def _one(marketplace, year, key, **kwargs):
    found = [e for e in events(marketplace=marketplace, year=year, **kwargs) if e.key == key]
    assert len(found) == 1, found
    return found[0]


def _keys(marketplace, year=2026):
    return {e.key for e in events(marketplace=marketplace, year=year)}


# --- dates -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "expected"),
    [(2025, "2025-11-28"), (2026, "2026-11-27"), (2027, "2027-11-26"), (2028, "2028-11-24"),
     (2029, "2029-11-23"), (2030, "2030-11-29")],
)  # fmt: skip
def test_black_friday_and_cyber_monday(year, expected):
    black_friday = _one("US", year, "black_friday")
    cyber_monday = _one("US", year, "cyber_monday")

    assert (black_friday.start, black_friday.end) == (date.fromisoformat(expected),) * 2
    assert black_friday.kind == SHOPPING
    assert cyber_monday.start == black_friday.start + timedelta(days=3)
    assert cyber_monday.start.weekday() == 0


@pytest.mark.parametrize(
    ("year", "expected"),
    [(2025, "2025-01-29"), (2026, "2026-02-17"), (2027, "2027-02-06"), (2028, "2028-01-26"),
     (2029, "2029-02-13"), (2030, "2030-02-03")],
)  # fmt: skip
def test_lunar_new_year(year, expected):
    for marketplace in ("CN", "SG", "MY", "ID", "PH"):
        event = _one(marketplace, year, "lunar_new_year")
        assert (event.start, event.end, event.kind) == (
            date.fromisoformat(expected),
            date.fromisoformat(expected),
            HOLIDAY,
        )


def test_vietnamese_tet_follows_the_vietnamese_calendar():
    # Tet is computed for UTC+7 and falls a day before China's Spring Festival in 2030 (as in 1985 and 2007);
    # other years agree.
    assert _one("VN", 2030, "lunar_new_year").start == date(2030, 2, 2)
    assert _one("VN", 2026, "lunar_new_year").start == date(2026, 2, 17)


@pytest.mark.parametrize(
    ("year", "first_day", "last_day"),
    [
        # Umm al-Qura (hijridate); each matches the published Umm al-Qura calendar. Ramadan 1446 and 1450 have
        # 29 days, 1447 and 1451 have 30.
        (2025, "2025-03-01", "2025-03-29"),
        (2026, "2026-02-18", "2026-03-19"),
        (2027, "2027-02-08", "2027-03-08"),
        (2028, "2028-01-28", "2028-02-25"),
        (2029, "2029-01-16", "2029-02-13"),
        (2030, "2030-01-05", "2030-02-03"),
    ],
)
def test_ramadan_runs_from_1_ramadan_to_the_day_before_eid(year, first_day, last_day):
    for marketplace in ("SA", "AE", "ID", "MY"):
        ramadan = [e for e in events(marketplace=marketplace, year=year) if e.key == "ramadan"][0]
        eid = _one(marketplace, year, "eid_al_fitr")
        assert (ramadan.start, ramadan.end) == (date.fromisoformat(first_day), date.fromisoformat(last_day))
        assert ramadan.kind == RELIGIOUS
        assert eid.start == ramadan.end + timedelta(days=1)


def test_eid_dates():
    assert _one("SA", 2025, "eid_al_fitr").start == date(2025, 3, 30)
    assert _one("SA", 2026, "eid_al_fitr").start == date(2026, 3, 20)
    assert _one("SA", 2025, "eid_al_adha").start == date(2025, 6, 6)
    assert _one("SA", 2026, "eid_al_adha").start == date(2026, 5, 27)


def test_a_gregorian_year_can_hold_two_ramadans():
    # 1 Ramadan 1451 is 5 January 2030 and 1 Ramadan 1452 is 26 December 2030
    starts = [e.start for e in events(marketplace="SA", year=2030) if e.key == "ramadan"]

    assert starts == [date(2030, 1, 5), date(2030, 12, 26)]


@pytest.mark.parametrize(
    ("year", "expected"),
    [(2025, "2025-10-20"), (2026, "2026-11-08"), (2027, "2027-10-29"), (2028, "2028-10-17"),
     (2029, "2029-11-05"), (2030, "2030-10-26")],
)  # fmt: skip
def test_diwali_in_india(year, expected):
    event = _one("IN", year, "diwali")

    assert (event.start, event.end, event.kind) == (
        date.fromisoformat(expected),
        date.fromisoformat(expected),
        RELIGIOUS,
    )


def test_deepavali_in_singapore_follows_the_tamil_calendar():
    # Same day as India's Diwali most years, but not in 2027 (28 October) and 2028 (15 November).
    assert _one("SG", 2025, "diwali").start == date(2025, 10, 20)
    assert _one("SG", 2027, "diwali").start == date(2027, 10, 28)
    assert _one("SG", 2028, "diwali").start == date(2028, 11, 15)


@pytest.mark.parametrize("year", range(2025, 2031))
def test_fixed_events(year):
    assert (_one("JP", year, "golden_week_jp").start, _one("JP", year, "golden_week_jp").end) == (
        date(year, 4, 29),
        date(year, 5, 5),
    )
    assert (_one("CN", year, "golden_week_cn").start, _one("CN", year, "golden_week_cn").end) == (
        date(year, 10, 1),
        date(year, 10, 7),
    )
    assert (_one("TH", year, "songkran").start, _one("TH", year, "songkran").end) == (
        date(year, 4, 13),
        date(year, 4, 15),
    )
    assert _one("CN", year, "singles_day").start == date(year, 11, 11)
    assert _one("CN", year, "double_12").start == date(year, 12, 12)
    assert _one("CN", year, "mid_year_618").start == date(year, 6, 18)
    assert _one("ID", year, "harbolnas").start == date(year, 12, 12)
    assert _one("UK", year, "boxing_day").start == date(year, 12, 26)
    assert _one("US", year, "christmas").start == date(year, 12, 25)


@pytest.mark.parametrize(
    ("marketplace", "key", "expected"),
    [
        ("US", "mothers_day", "2025-05-11"),  # second Sunday of May
        ("UK", "mothers_day", "2025-03-30"),  # Mothering Sunday, three weeks before Easter (20 April)
        ("FR", "mothers_day", "2025-05-25"),  # last Sunday of May
        ("FR", "mothers_day", "2023-06-04"),  # ... moved a week because 28 May 2023 was Pentecost
        ("ES", "mothers_day", "2025-05-04"),  # first Sunday of May
        ("MX", "mothers_day", "2025-05-10"),
        ("US", "fathers_day", "2025-06-15"),  # third Sunday of June
        ("DE", "fathers_day", "2025-05-29"),  # Ascension Day
        ("US", "memorial_day", "2025-05-26"),
        ("US", "labor_day_us", "2025-09-01"),
    ],
)
def test_movable_national_days(marketplace, key, expected):
    day = date.fromisoformat(expected)

    assert _one(marketplace, day.year, key).start == day


def test_events_are_sorted_and_carry_their_marketplace():
    found = events(marketplace="us", year=2026)

    assert [e.start for e in found] == sorted(e.start for e in found)
    assert {e.markets for e in found} == {("US",)}
    assert str(_one("US", 2026, "black_friday").name) == "Black Friday"


# --- marketplaces ------------------------------------------------------------------------------------------------


def test_every_marketplace_of_the_table_uses_known_events():
    assert set(PLANNED_MARKETPLACES) <= set(MARKET_EVENTS)
    assert all(key in EVENTS for keys in MARKET_EVENTS.values() for key in keys)


def test_which_events_apply_where():
    # 11.11 and 12.12 in South-East Asia and China; Indonesia has its own 12.12 (Harbolnas)
    for marketplace in ("SG", "MY", "TH", "PH", "VN", "CN"):
        assert {"singles_day", "double_12"} <= _keys(marketplace)
    assert {"singles_day", "harbolnas"} <= _keys("ID") and "double_12" not in _keys("ID")
    # Ramadan and both Eids in Saudi Arabia, the Emirates, Indonesia and Malaysia, not in the West
    for marketplace in ("SA", "AE", "ID", "MY"):
        assert {"ramadan", "eid_al_fitr", "eid_al_adha"} <= _keys(marketplace)
    for marketplace in ("US", "DE", "JP", "CN"):
        assert not {"ramadan", "eid_al_fitr", "eid_al_adha"} & _keys(marketplace)
    # Western shopping days in the US and Europe, not in China
    for marketplace in ("US", "CA", "UK", "DE", "FR", "IT", "ES"):
        assert {"black_friday", "cyber_monday", "christmas"} <= _keys(marketplace)
        assert "singles_day" not in _keys(marketplace)
    assert "black_friday" not in _keys("CN")
    # Boxing Day where it is a shopping day
    assert {m for m in PLANNED_MARKETPLACES if "boxing_day" in _keys(m)} == {"UK", "CA", "AU", "DE"}
    assert "diwali" in _keys("IN") and "lunar_new_year" in _keys("VN")
    assert "golden_week_jp" in _keys("JP") and "golden_week_cn" in _keys("CN") and "songkran" in _keys("TH")


def test_unknown_marketplace_gets_the_fallback_and_gb_is_uk():
    assert _keys("NL") == set(FALLBACK_EVENTS)
    assert _keys("gb") == _keys("UK")


def test_prime_day_only_when_the_seller_enters_it():
    assert "prime_day" not in _keys("US")

    one_day = _one("US", 2026, "prime_day", prime_day=date(2026, 7, 14))
    two_days = _one("DE", 2026, "prime_day", prime_day=(date(2026, 7, 14), date(2026, 7, 15)))

    assert (one_day.start, one_day.end, one_day.kind) == (date(2026, 7, 14), date(2026, 7, 14), SHOPPING)
    assert (two_days.start, two_days.end, two_days.markets) == (date(2026, 7, 14), date(2026, 7, 15), ("DE",))
    assert "prime_day" not in {e.key for e in events(marketplace="US", year=2025, prime_day=date(2026, 7, 14))}
    with pytest.raises(ValueError):
        events(marketplace="US", year=2026, prime_day=(date(2026, 7, 15), date(2026, 7, 14)))


# --- upcoming ----------------------------------------------------------------------------------------------------


def test_upcoming_merges_marketplaces_and_sorts():
    # Given US, UK and Saudi sellers on 1 November 2025, Prime Day entered for the US only
    found = upcoming(
        marketplaces=["US", "uk", "SA"], today=date(2025, 11, 1), days=60, prime_days={"US": date(2025, 11, 5)}
    )

    assert [(e.key, e.start.isoformat(), e.markets) for e in found] == [
        ("prime_day", "2025-11-05", ("US",)),
        ("black_friday", "2025-11-28", ("US", "UK")),
        ("white_friday", "2025-11-28", ("SA",)),
        ("cyber_monday", "2025-12-01", ("US", "UK")),
        ("christmas", "2025-12-25", ("US", "UK")),
        ("boxing_day", "2025-12-26", ("UK",)),
    ]


def test_upcoming_window_is_inclusive_and_keeps_running_events():
    # Black Friday 2025 is exactly 27 days after 1 November
    assert [e.key for e in upcoming(marketplaces=["DE"], today=date(2025, 11, 1), days=27)] == ["black_friday"]
    assert upcoming(marketplaces=["DE"], today=date(2025, 11, 1), days=26) == []
    # Ramadan 1452 started on 26 December 2030 and is still running on 10 January 2031
    running = upcoming(marketplaces=["SA"], today=date(2031, 1, 10), days=5)
    assert [(e.key, e.start, e.end) for e in running] == [("ramadan", date(2030, 12, 26), date(2031, 1, 23))]


def test_upcoming_with_one_prime_day_for_every_marketplace():
    found = upcoming(marketplaces=["US", "DE"], today=date(2026, 7, 1), days=30, prime_days=date(2026, 7, 14))

    assert [(e.key, e.markets) for e in found] == [("independence_day_us", ("US",)), ("prime_day", ("US", "DE"))]


# --- suggestions -------------------------------------------------------------------------------------------------


def test_black_friday_suggestions():
    black_friday = _one("US", 2025, "black_friday")

    suggestions = event_suggestions(event=black_friday)

    # ramp-up a week before, a doubled budget on the day, and no cool-down: Cyber Monday follows
    assert [(s.phase, s.start, s.end, s.budget_multiplier, s.bid_multiplier) for s in suggestions] == [
        (RAMP_UP, date(2025, 11, 21), date(2025, 11, 27), 1.3, 1.1),
        (EVENT, date(2025, 11, 28), date(2025, 11, 28), 2.0, 1.25),
    ]
    assert suggestions[1].reason == (
        "Black Friday, 28 Nov 2025: traffic and conversion peak and competitors bid up, so give campaigns room "
        "not to run out of budget early. Budgets +100%, bids +25%."
    )


def test_suggestions_cool_down_and_as_of():
    singles_day = _one("CN", 2026, "singles_day")

    # Given it is the day of the event, the ramp-up is over
    suggestions = event_suggestions(event=singles_day, as_of=date(2026, 11, 11))

    assert [(s.phase, s.start, s.end, s.budget_multiplier, s.bid_multiplier) for s in suggestions] == [
        (EVENT, date(2026, 11, 11), date(2026, 11, 11), 2.0, 1.25),
        (COOL_DOWN, date(2026, 11, 12), date(2026, 11, 14), 0.8, 0.9),
    ]
    assert suggestions[1].reason == (
        "Cool down after Singles' Day (11.11), 12 Nov 2026 to 14 Nov 2026: demand falls back faster than bid "
        "prices do, so bring spend back down. Budgets -20%, bids -10%."
    )
    # A ramp-up under way starts today; singles' day pre-sales make it two weeks long
    ramp = event_suggestions(event=singles_day, as_of=date(2026, 11, 1))[0]
    assert (ramp.phase, ramp.start, ramp.end) == (RAMP_UP, date(2026, 11, 1), date(2026, 11, 10))
    assert event_suggestions(event=singles_day)[0].start == date(2026, 10, 28)
    assert event_suggestions(event=singles_day, as_of=date(2026, 11, 15)) == []


def test_holiday_keeps_the_day_itself_at_usual_levels():
    valentines = _one("FR", 2026, "valentines_day")

    suggestions = event_suggestions(event=valentines)

    assert [(s.phase, s.budget_multiplier) for s in suggestions] == [(RAMP_UP, 1.3), (EVENT, 1.0), (COOL_DOWN, 0.8)]
    assert suggestions[0].start == date(2026, 1, 31)
    assert suggestions[1].reason.endswith("Budgets +0%, bids +0%.")


# --- warnings ----------------------------------------------------------------------------------------------------

CHRISTMAS = Event("christmas", "Christmas", date(2026, 12, 25), date(2026, 12, 25), HOLIDAY, ("UK",))


def test_campaign_without_end_date_is_warned():
    assert holiday_campaign_warnings(campaign_end=None, event=CHRISTMAS) == [
        "This campaign has no end date. Holiday creatives for Christmas must stop within a day of the event: "
        "set the end date to 26 Dec 2026 at the latest."
    ]


def test_campaign_ending_within_a_day_of_the_event_is_fine():
    assert holiday_campaign_warnings(campaign_end=date(2026, 12, 25), event=CHRISTMAS) == []
    assert holiday_campaign_warnings(campaign_end=date(2026, 12, 26), event=CHRISTMAS) == []
    assert holiday_campaign_warnings(campaign_end=date(2026, 12, 1), event=CHRISTMAS) == []


def test_campaign_running_past_the_event_by_more_than_a_day_is_warned():
    assert holiday_campaign_warnings(campaign_end=date(2026, 12, 27), event=CHRISTMAS) == [
        "This campaign ends on 27 Dec 2026, 2 days after Christmas ends. Holiday creatives must stop within a "
        "day of the event: end it on 26 Dec 2026 at the latest."
    ]


def test_warning_counts_from_the_end_of_a_multi_day_event():
    golden_week = _one("JP", 2026, "golden_week_jp")

    assert holiday_campaign_warnings(campaign_end=date(2026, 5, 6), event=golden_week) == []
    assert len(holiday_campaign_warnings(campaign_end=date(2026, 5, 7), event=golden_week)) == 1
