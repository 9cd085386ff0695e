"""FX: the ECB feed (through the fake ECB server, over real HTTP), the manual CSV, conversion and the task."""

import io
import socket
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Max

from analytics.fake_ecb import SERIES, is_business_day
from analytics.fx import ecb
from analytics.fx import services as fx_services
from analytics.fx.selectors import Converted, FxRateMissing, RateLeg, convert, rates_frame
from analytics.fx.services import FxRateImportError, fx_rates_import_csv, fx_rates_refresh
from analytics.models import FxRate
from analytics.tasks import refresh_fx_rates
from config.schedules import SCHEDULES

pytestmark = pytest.mark.django_db

THU, FRI, SAT, SUN, MON = (date(2025, 1, 9) + timedelta(days=n) for n in range(5))
ECB = FxRate.RateSource.ECB
MANUAL = FxRate.RateSource.MANUAL


def table():
    return sorted(FxRate.objects.values_list("date", "base", "quote", "rate", "source", "created_at", "id"))


def stored(on, quote, base="EUR"):
    return FxRate.objects.values_list("rate", "source").get(date=on, base=base, quote=quote)


def add(on, quote, rate, source=ECB):
    return FxRate.objects.create(date=on, base="EUR", quote=quote, rate=Decimal(rate), source=source)


# --- the ECB document ------------------------------------------------------------------------------------

REAL_DAILY = b"""<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
\t<gesmes:subject>Reference rates</gesmes:subject>
\t<gesmes:Sender>
\t\t<gesmes:name>European Central Bank</gesmes:name>
\t</gesmes:Sender>
\t<Cube>
\t\t<Cube time='2025-01-10'>
\t\t\t<Cube currency='USD' rate='1.0304'/>
\t\t\t<Cube currency='JPY' rate='162.92'/>
\t\t\t<Cube currency='GBP' rate='0.83813'/>
\t\t\t<Cube currency='IDR' rate='16777.88'/>
\t\t</Cube>
\t</Cube>
</gesmes:Envelope>"""


def test_parse_reads_the_ecb_document_with_its_namespaces():
    assert ecb.parse(REAL_DAILY) == [
        (FRI, "USD", Decimal("1.0304")),
        (FRI, "JPY", Decimal("162.92")),
        (FRI, "GBP", Decimal("0.83813")),
        (FRI, "IDR", Decimal("16777.88")),
    ]


@pytest.mark.parametrize(
    "document",
    [
        b"<html>maintenance</html>",
        REAL_DAILY.replace(b"rate='1.0304'", b"rate='n/a'"),
        REAL_DAILY.replace(b"time='2025-01-10'", b"time='10.01.2025'"),
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
        b"<gesmes:Envelope",
    ],
)
def test_parse_refuses_documents_that_are_not_the_feed(document):
    with pytest.raises(ecb.EcbError):
        ecb.parse(document)


# --- refresh from the (fake) ECB -------------------------------------------------------------------------


def test_refresh_loads_the_90_day_feed(fake_ecb):
    fake_ecb.rates = {
        "2025-01-09": {"USD": "1.0305", "CNY": "7.5567"},
        "2025-01-10": {"USD": "1.0304", "CNY": "7.5603"},
    }

    assert fx_rates_refresh(days="90d") == 4

    assert sorted(FxRate.objects.values_list("date", "base", "quote", "rate", "source")) == [
        (THU, "EUR", "CNY", Decimal("7.5567"), ECB),
        (THU, "EUR", "USD", Decimal("1.0305"), ECB),
        (FRI, "EUR", "CNY", Decimal("7.5603"), ECB),
        (FRI, "EUR", "USD", Decimal("1.0304"), ECB),
    ]
    assert fake_ecb.requests == ["/eurofxref-hist-90d.xml"]


def test_refresh_daily_loads_only_the_newest_day(fake_ecb):
    fake_ecb.rates = {"2025-01-09": {"USD": "1.0305"}, "2025-01-10": {"USD": "1.0304"}}

    assert fx_rates_refresh() == 1

    assert list(FxRate.objects.values_list("date", "quote", "rate")) == [(FRI, "USD", Decimal("1.0304"))]


def test_refresh_twice_changes_nothing(fake_ecb):
    fake_ecb.today = date(2026, 3, 20)  # the generated series
    assert fx_rates_refresh(days="90d") > 0
    before = table()

    assert fx_rates_refresh(days="90d") == 0

    assert table() == before  # same rows, same values, same ids and created_at


def test_a_corrected_ecb_rate_overwrites_the_stored_one(fake_ecb):
    fake_ecb.rates = {"2025-01-10": {"USD": "1.0304", "CNY": "7.5603"}}
    fx_rates_refresh()
    fake_ecb.rates = {"2025-01-10": {"USD": "1.0310", "CNY": "7.5603"}}

    assert fx_rates_refresh() == 1

    assert stored(FRI, "USD") == (Decimal("1.0310"), ECB)
    assert stored(FRI, "CNY") == (Decimal("7.5603"), ECB)


def test_refresh_never_overwrites_a_manual_rate(fake_ecb):
    add(FRI, "USD", "1.1000", source=MANUAL)
    fake_ecb.rates = {"2025-01-10": {"USD": "1.0304", "CNY": "7.5603"}}

    assert fx_rates_refresh() == 1

    assert stored(FRI, "USD") == (Decimal("1.1000"), MANUAL)
    assert stored(FRI, "CNY") == (Decimal("7.5603"), ECB)


def test_generated_feeds_cover_business_days_of_the_last_90_and_400_days(fake_ecb):
    today = date(2026, 3, 20)  # a Friday
    fake_ecb.today = today

    fx_rates_refresh(days="90d")

    days = set(FxRate.objects.values_list("date", flat=True))
    expected = {today - timedelta(days=n) for n in range(91)}
    assert days == {day for day in expected if is_business_day(day)}
    assert all(day.weekday() < 5 for day in days)
    assert set(FxRate.objects.values_list("quote", flat=True)) == set(SERIES)
    usd = FxRate.objects.filter(quote="USD").values_list("rate", flat=True)
    assert all(Decimal("1.08") <= rate <= Decimal("1.17") for rate in usd)
    cny = FxRate.objects.filter(quote="CNY").values_list("rate", flat=True)
    assert all(Decimal("7.7") <= rate <= Decimal("8.3") for rate in cny)
    fx_rates_refresh(days="hist")
    assert FxRate.objects.aggregate(newest=Max("date"))["newest"] == today
    assert len(set(FxRate.objects.values_list("date", flat=True))) > 250


def test_a_client_error_from_the_ecb_is_terminal(fake_ecb):
    fake_ecb.fail_next = 404
    with pytest.raises(ecb.EcbError) as caught:
        fx_rates_refresh()
    assert not isinstance(caught.value, ecb.EcbTransientError)
    assert FxRate.objects.count() == 0


# --- the task --------------------------------------------------------------------------------------------


@pytest.fixture
def eager_retries(monkeypatch):
    """With eager propagation on (the test settings), a retry raises ``celery.exceptions.Retry`` out of
    ``apply()``. Off, ``apply()`` runs each retry inline as a worker would, without the countdown."""
    monkeypatch.setitem(refresh_fx_rates.app.conf, "task_eager_propagates", False)


def test_the_task_retries_after_a_503_then_succeeds(fake_ecb, eager_retries):
    fake_ecb.rates = {"2025-01-10": {"USD": "1.0304"}}
    fake_ecb.fail_next = 503

    result = refresh_fx_rates.apply(kwargs={"days": "daily"})

    assert result.successful()
    assert result.result == 1
    assert fake_ecb.requests == ["/eurofxref-daily.xml", "/eurofxref-daily.xml"]
    assert stored(FRI, "USD") == (Decimal("1.0304"), ECB)


def test_the_task_retries_a_refused_connection(fake_ecb, eager_retries, settings, monkeypatch):
    fake_ecb.rates = {"2025-01-10": {"USD": "1.0304"}}
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    urls = [closed_url, settings.ECB_FX_URL]
    real_refresh = fx_services.fx_rates_refresh

    def refresh_from_next_url(*, days):
        settings.ECB_FX_URL = urls.pop(0)
        return real_refresh(days=days)

    monkeypatch.setattr(fx_services, "fx_rates_refresh", refresh_from_next_url)

    result = refresh_fx_rates.apply()

    assert result.successful()
    assert urls == []
    assert fake_ecb.requests == ["/eurofxref-hist-90d.xml"]
    assert stored(FRI, "USD") == (Decimal("1.0304"), ECB)


def test_the_task_gives_up_after_five_retries(fake_ecb, eager_retries):
    fake_ecb.rates = {"2025-01-10": {"USD": "1.0304"}}
    fake_ecb.fail_next, fake_ecb.fail_times = 502, 100

    result = refresh_fx_rates.apply(kwargs={"days": "daily"})

    assert result.failed()
    assert isinstance(result.result, ecb.EcbTransientError)
    assert len(fake_ecb.requests) == 6  # the first try and five retries
    assert FxRate.objects.count() == 0


def test_the_task_does_not_retry_a_client_error(fake_ecb, eager_retries):
    fake_ecb.fail_next = 404

    result = refresh_fx_rates.apply(kwargs={"days": "daily"})

    assert result.failed()
    assert len(fake_ecb.requests) == 1


def test_the_task_is_scheduled_daily_after_the_ecb_publishes():
    entry = SCHEDULES["analytics.fx-rates"]
    assert entry["task"] == refresh_fx_rates.name == "analytics.tasks.refresh_fx_rates"
    assert entry["crontab"] == {"minute": "30", "hour": "16"}
    assert entry["expires"] == 6 * 60 * 60


# --- manual CSV ------------------------------------------------------------------------------------------


def test_csv_import_stores_manual_rates_and_overrides_ecb():
    add(FRI, "USD", "1.0304")
    csv = b"\xef\xbb\xbfdate,base,quote,rate\r\n2025-01-10,EUR,USD,1.0299\r\n2025-01-10,eur,vnd,26540.5\r\n\r\n"

    assert fx_rates_import_csv(file=io.BytesIO(csv)) == 2

    assert stored(FRI, "USD") == (Decimal("1.0299"), MANUAL)
    assert stored(FRI, "VND") == (Decimal("26540.5"), MANUAL)
    assert FxRate.objects.count() == 2


def test_csv_columns_may_come_in_any_order():
    assert fx_rates_import_csv(file=io.StringIO("rate,quote,date,base\n7.6,CNY,2025-01-10,EUR\n")) == 1
    assert stored(FRI, "CNY") == (Decimal("7.6"), MANUAL)


HEADER = "date,base,quote,rate\n"


ROW = HEADER + "2025-01-10,EUR,USD,1.08\n"
BROKEN_FILES = {
    "empty-file": ("", 1, None, "The file is empty."),
    "missing-column": ("date,base,quote\n2025-01-10,EUR,USD\n", 1, "rate", "The header has no such column."),
    "extra-value": (ROW + "2025-01-10,EUR,CNY,7,56\n", 3, None, "Expected 4 values, found 5."),
    "bad-number": (ROW + "2025-01-10,EUR,CNY,7.5x\n", 3, "rate", "Not a number: '7.5x'."),
    "negative-rate": (
        HEADER + "2025-01-10,EUR,USD,-1.08\n",
        2,
        "rate",
        "The rate must be greater than 0, not -1.08.",
    ),
    "zero-rate": (HEADER + "2025-01-10,EUR,USD,0\n", 2, "rate", "The rate must be greater than 0, not 0."),
    "bad-date-format": (
        HEADER + "10/01/2025,EUR,USD,1.08\n",
        2,
        "date",
        "Not a date in YYYY-MM-DD form: '10/01/2025'.",
    ),
    "impossible-date": (HEADER + "2025-02-30,EUR,USD,1.08\n", 2, "date", "Not a real date: '2025-02-30'."),
    "short-currency-code": (
        HEADER + "2025-01-10,EUR,US,1.08\n",
        2,
        "quote",
        "Not a 3-letter ISO 4217 currency code: 'US'.",
    ),
    "long-currency-code": (
        HEADER + "2025-01-10,EURO,USD,1.08\n",
        2,
        "base",
        "Not a 3-letter ISO 4217 currency code: 'EURO'.",
    ),
    "non-eur-base": (
        HEADER + "2025-01-10,USD,CNY,7.1\n",
        2,
        "base",
        "Rates are stored per 1 EUR, like the ECB's: write this row as EUR to CNY.",
    ),
    "same-currency": (
        HEADER + "2025-01-10,EUR,EUR,1\n",
        2,
        "quote",
        "The quote currency must differ from the base currency.",
    ),
    "duplicate-row": (ROW + "2025-01-10,EUR,USD,1.09\n", 3, None, "Duplicate of row 2 (same date, base and quote)."),
    "too-many-decimals": (
        HEADER + "2025-01-10,EUR,USD,1.123456789012\n",
        2,
        "rate",
        "At most 10 decimal places are stored: 1.123456789012.",
    ),
    "header-only": (HEADER, 2, None, "The file has no rates."),
}


@pytest.mark.parametrize(("content", "row", "column", "message"), BROKEN_FILES.values(), ids=BROKEN_FILES.keys())
def test_a_broken_csv_raises_with_row_and_column_and_imports_nothing(content, row, column, message):
    add(FRI, "USD", "1.0304")
    before = table()

    with pytest.raises(FxRateImportError) as caught:
        fx_rates_import_csv(file=io.BytesIO(content.encode()))

    assert caught.value.errors == [{"row": row, "column": column, "message": message}]
    assert table() == before


def test_a_csv_lists_every_problem_and_imports_none_of_the_good_rows():
    content = HEADER + "2025-01-10,EUR,USD,1.08\n2025-01-1x,EUR,CNY,abc\n2025-01-10,EUR,JPY,161\n"

    with pytest.raises(FxRateImportError) as caught:
        fx_rates_import_csv(file=io.BytesIO(content.encode()))

    assert [(e["row"], e["column"]) for e in caught.value.errors] == [(3, "date"), (3, "rate")]
    assert caught.value.messages == [
        "Row 3, column date: Not a date in YYYY-MM-DD form: '2025-01-1x'.",
        "Row 3, column rate: Not a number: 'abc'.",
    ]
    assert FxRate.objects.count() == 0


# --- convert ---------------------------------------------------------------------------------------------


@pytest.fixture
def friday_rates():
    add(FRI, "USD", "1.0304")
    add(FRI, "CNY", "7.5603")
    add(FRI, "JPY", "161.05")
    add(THU, "USD", "1.0252")


def test_same_currency_is_rate_one_without_a_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        result = convert(Decimal("12.34565"), "USD", "usd", SUN)
    assert result == Converted(Decimal("12.3456"), "USD", Decimal(1), SUN, "identity", None)


def test_eur_to_x(friday_rates, django_assert_num_queries):
    with django_assert_num_queries(1):
        result = convert(Decimal("100"), "EUR", "USD", FRI)
    assert result == Converted(
        amount=Decimal("103.0400"),
        currency="USD",
        rate=Decimal("1.0304"),
        rate_date=FRI,
        source="ecb",
        via=None,
        legs=(RateLeg(FRI, "USD", Decimal("1.0304"), "ecb"),),
    )


def test_x_to_eur_keeps_the_rate_unrounded(friday_rates):
    result = convert(Decimal("100"), "USD", "EUR", FRI)
    assert result.amount == Decimal("97.0497")
    assert result.rate == Decimal("0.9704968944099378881987577640")
    assert (result.currency, result.rate_date, result.source, result.via) == ("EUR", FRI, "ecb", None)


def test_cross_rate_through_eur(friday_rates):
    result = convert(Decimal("100"), "USD", "CNY", FRI)
    assert result.amount == Decimal("733.7248")
    assert result.rate == Decimal("7.337247670807453416149068323")
    assert (result.currency, result.rate_date, result.source, result.via) == ("CNY", FRI, "ecb", "EUR")
    assert [leg.quote for leg in result.legs] == ["USD", "CNY"]

    assert convert(Decimal("1234.5"), "CNY", "JPY", FRI).amount == Decimal("26297.3989")


def test_weekend_uses_fridays_rate(friday_rates):
    result = convert(Decimal("100"), "USD", "CNY", SUN)
    assert (result.amount, result.rate_date) == (Decimal("733.7248"), FRI)
    assert convert(Decimal("100"), "EUR", "USD", THU).amount == Decimal("102.5200")


def test_a_rate_up_to_seven_days_old_is_used_and_an_older_one_refused(friday_rates):
    assert convert(Decimal("1"), "USD", "CNY", FRI + timedelta(days=7)).rate_date == FRI

    with pytest.raises(FxRateMissing) as caught:
        convert(Decimal("1"), "USD", "CNY", FRI + timedelta(days=8))

    assert str(caught.value).startswith(
        "No FX rate for USD->CNY on 2025-01-18: the latest EUR->USD rate is from 2025-01-10, older than 2025-01-11."
    )
    assert (caught.value.missing, caught.value.latest) == ("USD", FRI)


def test_a_currency_without_any_rate_is_refused(friday_rates):
    with pytest.raises(FxRateMissing) as caught:
        convert(Decimal("1"), "USD", "VND", FRI)
    assert "No FX rate for USD->VND on 2025-01-10: there is no EUR->VND rate on or before 2025-01-10." in str(
        caught.value
    )
    with pytest.raises(FxRateMissing):
        convert(Decimal("1"), "USD", "CNY", THU - timedelta(days=1))


def test_a_cross_rate_mixing_ecb_and_manual_names_both(friday_rates):
    add(THU, "VND", "26540", source=MANUAL)
    result = convert(Decimal("10"), "USD", "VND", FRI)
    assert result.amount == Decimal("257569.8758")  # 10 * 26540 / 1.0304
    assert (result.rate_date, result.source, result.via) == (THU, "ecb+manual", "EUR")


def test_only_the_final_amount_is_rounded_half_to_even():
    add(FRI, "XAU", "2")
    assert convert(Decimal("0.000025"), "EUR", "XAU", FRI).amount == Decimal("0.0000")
    assert convert(Decimal("0.000075"), "EUR", "XAU", FRI).amount == Decimal("0.0002")


def test_convert_refuses_floats():
    with pytest.raises(TypeError):
        convert(1.5, "USD", "EUR", FRI)


# --- rates_frame -----------------------------------------------------------------------------------------


def test_rates_frame_fills_weekends_in_one_query(friday_rates, django_assert_num_queries):
    add(MON, "USD", "1.0252")
    add(MON, "CNY", "7.6012")

    with django_assert_num_queries(1):
        frame = rates_frame(["USD", "EUR", "CNY", "JPY", "VND"], THU, MON, "CNY")

    usd_fri = Decimal("7.337247670807453416149068323")
    assert frame[(FRI, "USD")] == usd_fri
    assert frame[(SAT, "USD")] == frame[(SUN, "USD")] == usd_fri
    assert frame[(MON, "USD")] == Decimal("7.414358174014826375341396801")
    assert frame[(FRI, "EUR")] == Decimal("7.5603")
    assert frame[(SUN, "CNY")] == Decimal(1)
    assert frame[(FRI, "JPY")] == Decimal("7.5603") / Decimal("161.05")
    assert (THU, "CNY") in frame and (THU, "USD") not in frame  # no EUR->CNY on Thursday: no guess
    assert not any(currency == "VND" for _day, currency in frame)
    assert len(frame) == 4 * 4 + 1  # four currencies Friday to Monday, and CNY itself on Thursday


# --- the management command ------------------------------------------------------------------------------


def test_load_fx_rates_from_the_ecb(fake_ecb):
    fake_ecb.rates = {"2025-01-09": {"USD": "1.0305"}, "2025-01-10": {"USD": "1.0304"}}
    out = io.StringIO()

    call_command("load_fx_rates", "--history", "90d", stdout=out)

    assert out.getvalue() == "ECB 90d feed: 2 rates inserted or changed.\n"
    assert FxRate.objects.filter(source=ECB).count() == 2


def test_load_fx_rates_reports_an_ecb_outage(fake_ecb):
    fake_ecb.fail_next = 503
    with pytest.raises(CommandError, match="ECB daily feed failed: .* answered 503"):
        call_command("load_fx_rates")


def test_load_fx_rates_imports_a_csv(tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text("date,base,quote,rate\n2025-01-10,EUR,AED,3.7841\n")
    out = io.StringIO()

    call_command("load_fx_rates", "--csv", str(path), stdout=out)

    assert out.getvalue() == f"Imported 1 manual rates from {path}.\n"
    assert stored(FRI, "AED") == (Decimal("3.7841"), MANUAL)


def test_load_fx_rates_lists_the_problems_of_a_broken_csv(tmp_path):
    path = tmp_path / "rates.csv"
    path.write_text("date,base,quote,rate\n2025-01-10,EUR,AED,-3\n")

    with pytest.raises(CommandError) as caught:
        call_command("load_fx_rates", "--csv", str(path))

    assert str(caught.value) == (
        f"{path}: nothing imported, 1 problem(s):\n  Row 2, column rate: The rate must be greater than 0, not -3."
    )
    assert FxRate.objects.count() == 0


def test_load_fx_rates_takes_one_source_at_a_time(tmp_path):
    with pytest.raises(CommandError):
        call_command("load_fx_rates", "--history", "90d", "--csv", str(tmp_path / "x.csv"))
