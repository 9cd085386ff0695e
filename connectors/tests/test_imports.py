"""Report-file imports: every supported layout end to end (upload -> task -> facts and entities), and the
ways a file is refused (nothing written). Fixture files under ``files/`` are small copies of real layouts."""

import codecs
import random
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Count, Sum

from analytics.models import AdPerformanceDaily
from campaigns.models import AdAccount, AdGroup, Campaign
from connectors.imports import service
from connectors.imports.detect import find_header, normalize_header
from connectors.imports.pipeline import FAMILIES
from connectors.imports.values import CellError, match_type, parse_date, parse_decimal, parse_id, to_count, to_decimal
from connectors.models import FileImport, ImportFormat, RunStatus

FILES = Path(__file__).parent / "files"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def upload(org, owner, django_capture_on_commit_callbacks):
    """Upload a fixture file (or bytes) through the service; the task runs (eagerly) after commit."""

    def run(source, *, name=None, marketplace="", organization=None):
        data = (FILES / source).read_bytes() if isinstance(source, str) else source
        uploaded = SimpleUploadedFile(name or (source if isinstance(source, str) else "report.csv"), data)
        with django_capture_on_commit_callbacks(execute=True):
            created = service.file_import_create(
                organization=organization or org, uploaded_file=uploaded, user=owner, marketplace=marketplace
            )
        return FileImport.unscoped_objects.get(pk=created.pk)

    return run


def totals(organization):
    return AdPerformanceDaily.unscoped_objects.filter(organization=organization).aggregate(
        rows=Count("id"),
        impressions=Sum("impressions"),
        clicks=Sum("clicks"),
        cost=Sum("cost"),
        sales=Sum("sales"),
        orders=Sum("orders"),
        units=Sum("units"),
    )


def entity_counts(organization):
    return (
        AdAccount.unscoped_objects.filter(organization=organization).count(),
        Campaign.unscoped_objects.filter(organization=organization).count(),
        AdGroup.unscoped_objects.filter(organization=organization).count(),
    )


def facts(organization, **filters):
    return AdPerformanceDaily.unscoped_objects.filter(organization=organization, **filters)


# --- formats ---------------------------------------------------------------------------------------------
def test_amazon_search_term_daily_csv(upload, org):
    file_import = upload("amazon_sp_search_term_daily.csv")

    assert file_import.status == RunStatus.SUCCEEDED, file_import.message
    assert file_import.detected_format == ImportFormat.AMAZON_SP_SEARCH_TERM
    assert (file_import.rows_total, file_import.rows_written, file_import.progress) == (8, 8, 100)
    assert file_import.errors == []
    assert file_import.message == "Imported 8 rows for 3 Jun 2026 to 4 Jun 2026."
    assert totals(org) == {
        "rows": 8,
        "impressions": 5304,
        "clicks": 98,
        "cost": Decimal("75.46"),
        "sales": Decimal("2439.50"),
        "orders": 82,
        "units": 87,
    }
    assert set(facts(org).values_list("channel", "account_id", "grain", "currency", "attribution_window")) == {
        ("amazon_ads", "import:USD", "search_term", "USD", "7d")
    }
    assert set(facts(org).values_list("source", "source_ref")) == {("import", file_import.pk)}
    # "*" is kept; "-" is a targeting expression.
    star = facts(org).get(search_term="*", date=date(2026, 6, 4))
    assert (star.match_type, star.target_text, star.campaign_id) == (
        "TARGETING_EXPRESSION",
        "close-match",
        "name:SP - Garlic Press - Auto",
    )
    assert (star.cost, star.clicks, star.sales) == (Decimal("1.88"), 4, Decimal("0"))
    # The same search term reached through two targets of one ad group stays two rows.
    both = facts(org, date=date(2026, 6, 3), search_term="garlic press").order_by("target_id")
    assert [(f.target_id, f.match_type, f.cost, f.sales) for f in both] == [
        ("name:EXACT/garlic press", "EXACT", Decimal("30.34"), Decimal("1249.50")),
        ("name:PHRASE/garlic press tool", "PHRASE", Decimal("2.31"), Decimal("29.75")),
    ]
    asin = facts(org).get(search_term="b0c7654321")
    assert (asin.target_text, asin.match_type, asin.sales) == ('asin="B0C1234567"', "TARGETING_EXPRESSION", 0)

    account = AdAccount.unscoped_objects.get(organization=org)
    assert (account.channel, account.external_id, account.currency) == ("amazon_ads", "import:USD", "USD")
    campaigns = Campaign.unscoped_objects.filter(organization=org).order_by("name")
    assert [(c.external_id, c.name, c.portfolio, c.ad_account_id) for c in campaigns] == [
        ("name:SP - Garlic Press - Auto", "SP - Garlic Press - Auto", "", account.pk),
        ("name:SP - Garlic Press - Exact", "SP - Garlic Press - Exact", "Kitchen", account.pk),
    ]
    groups = AdGroup.unscoped_objects.filter(organization=org).order_by("name")
    assert [(g.external_id, g.name, g.campaign.name) for g in groups] == [
        ("name:SP - Garlic Press - Auto/Auto", "Auto", "SP - Garlic Press - Auto"),
        ("name:SP - Garlic Press - Exact/Exact KW", "Exact KW", "SP - Garlic Press - Exact"),
    ]
    stored = Path(service.settings.MEDIA_ROOT) / file_import.stored_path
    assert stored.name == f"{file_import.sha256}.csv"
    assert stored.read_bytes() == (FILES / "amazon_sp_search_term_daily.csv").read_bytes()
    assert file_import.size_bytes == stored.stat().st_size


def test_amazon_search_term_xlsx_reads_the_sheet_with_the_report(upload, org):
    file_import = upload("amazon_sp_search_term.xlsx", marketplace="de")

    assert file_import.status == RunStatus.SUCCEEDED, file_import.message
    assert file_import.detected_format == ImportFormat.AMAZON_SP_SEARCH_TERM
    assert (file_import.rows_total, file_import.rows_written, file_import.marketplace) == (5, 5, "DE")
    assert totals(org) == {
        "rows": 5,
        "impressions": 1859,
        "clicks": 47,
        "cost": Decimal("33.75"),
        "sales": Decimal("894.60"),
        "orders": 30,
        "units": 31,
    }
    assert set(facts(org).values_list("account_id", "marketplace", "currency")) == {("import:DE", "DE", "EUR")}
    assert sorted(set(facts(org).values_list("date", flat=True))) == [date(2026, 6, 3), date(2026, 6, 4)]
    assert AdAccount.unscoped_objects.get(organization=org).marketplace == "DE"
    assert entity_counts(org) == (1, 2, 2)


def test_amazon_search_term_japanese_headers(upload, org):
    file_import = upload("amazon_sp_search_term_jp.csv")

    assert file_import.status == RunStatus.SUCCEEDED, file_import.message
    assert totals(org) == {
        "rows": 3,
        "impressions": 4137,
        "clicks": 102,
        "cost": Decimal("4075"),
        "sales": Decimal("62700"),
        "orders": 19,
        "units": 20,
    }
    exact = facts(org).get(search_term="ガーリックプレス")
    assert (exact.match_type, exact.currency, exact.date, exact.attribution_window) == (
        "EXACT",
        "JPY",
        date(2026, 6, 3),
        "7d",
    )


def test_amazon_campaign_export_with_excel_escaped_ids(upload, org):
    file_import = upload("amazon_campaign_export.csv")

    assert file_import.status == RunStatus.SUCCEEDED, file_import.message
    assert file_import.detected_format == ImportFormat.AMAZON_SP_CAMPAIGN
    assert (file_import.rows_total, file_import.rows_written) == (4, 4)
    assert totals(org) == {
        "rows": 4,
        "impressions": 0,  # this export has no Impressions column
        "clicks": 67,
        "cost": Decimal("59.24"),
        "sales": Decimal("1517.25"),
        "orders": 0,
        "units": 54,
    }
    rows = facts(org).order_by("campaign_id", "ad_group_id")
    assert [(f.grain, f.campaign_id, f.ad_group_id, f.date) for f in rows] == [
        ("campaign", "144019660411111", "", date(2026, 6, 3)),
        ("ad_group", "555251554086397", "301234567890123", date(2026, 6, 3)),
        ("ad_group", "555251554086397", "301234567890124", date(2026, 6, 3)),
        ("ad_group", "555251554086398", "301234567890125", date(2026, 6, 3)),
    ]
    assert sorted(Campaign.unscoped_objects.filter(organization=org).values_list("external_id", "name")) == [
        ("144019660411111", "SB - Brand - Video"),
        ("555251554086397", "SP - Garlic Press - Exact"),
        ("555251554086398", "SP - Garlic Press - Auto"),
    ]
    assert sorted(
        AdGroup.unscoped_objects.filter(organization=org).values_list("external_id", "campaign__external_id")
    ) == [
        ("301234567890123", "555251554086397"),
        ("301234567890124", "555251554086397"),
        ("301234567890125", "555251554086398"),
    ]


def test_google_ads_ui_report_with_preamble_and_total_rows(upload, org):
    file_import = upload("google_ads_campaign_report.csv")

    assert file_import.status == RunStatus.SUCCEEDED, file_import.message
    assert file_import.detected_format == ImportFormat.GOOGLE_ADS_UI
    assert (file_import.rows_total, file_import.rows_written) == (4, 4)
    assert totals(org) == {
        "rows": 4,
        "impressions": 22561,
        "clicks": 1964,
        "cost": Decimal("2930.37"),
        "sales": Decimal("8846.95"),
        "orders": 110,  # 52.50 modelled conversions round half up to 53
        "units": 0,
    }
    brand = facts(org).get(campaign_id="name:Brand", date=date(2026, 6, 3))
    assert (brand.channel, brand.grain, brand.cost, brand.impressions, brand.orders) == (
        "google_ads",
        "campaign",
        Decimal("1316.14"),
        5354,
        53,
    )
    assert not facts(org, campaign_name__startswith="Total").exists()
    assert entity_counts(org) == (1, 2, 0)


def test_google_ads_german_utf16_tab_separated(upload, org):
    file_import = upload("google_ads_de_utf16.csv")

    assert file_import.status == RunStatus.SUCCEEDED, file_import.message
    assert file_import.detected_format == ImportFormat.GOOGLE_ADS_UI
    assert totals(org) == {
        "rows": 3,
        "impressions": 22561,
        "clicks": 1964,
        "cost": Decimal("2848.79"),
        "sales": Decimal("8846.95"),
        "orders": 110,  # 52 + 9,50 -> 10 + 48
        "units": 0,
    }
    marke = facts(org).get(campaign_name="Marke", date=date(2026, 6, 3))
    assert (marke.cost, marke.sales, marke.impressions, marke.currency, marke.account_id) == (
        Decimal("1234.56"),
        Decimal("4210.75"),
        5354,
        "EUR",
        "import:EUR",
    )
    assert facts(org, campaign_name="Küche – generisch").count() == 1


def test_google_ads_search_terms_report_for_one_day_takes_the_day_from_the_preamble(upload, org):
    file_import = upload("google_ads_search_terms.csv")

    assert file_import.status == RunStatus.SUCCEEDED, file_import.message
    assert (file_import.rows_total, file_import.rows_written) == (3, 3)
    assert totals(org) == {
        "rows": 3,
        "impressions": 1429,
        "clicks": 103,
        "cost": Decimal("114.38"),
        "sales": Decimal("436.48"),
        "orders": 7,  # 6.00 + 0.50 (rounded half up to 1) + 0
        "units": 0,
    }
    tools, mincers = "name:Generic - Kitchen/Garlic tools", "name:Generic - Kitchen/Mincers"
    rows = facts(org).order_by("search_term")
    assert [(f.date, f.grain, f.search_term, f.match_type, f.target_text, f.ad_group_id) for f in rows] == [
        (date(2026, 6, 3), "search_term", "best garlic press 2026", "PHRASE", '"garlic press"', tools),
        (date(2026, 6, 3), "search_term", "garlic mincer", "BROAD", "garlic mincer", mincers),
        (date(2026, 6, 3), "search_term", "garlic press", "EXACT", "[garlic press]", tools),
    ]
    assert entity_counts(org) == (1, 1, 2)


def test_amazon_german_console_export_with_semicolons_and_decimal_commas(upload, org):
    data = (
        "Datum;Währung;Kampagnenname;Name der Anzeigengruppe;Ausrichtung;Übereinstimmungstyp;Suchbegriff des Kunden;"
        "Impressionen;Klicks;Ausgaben;Umsatz (7 Tage);Bestellungen (7 Tage)\r\n"
        "03.06.2026;EUR;SP – Knoblauchpresse;Exakt;knoblauchpresse;Genau;knoblauchpresse;1.204;37;30,34 €;"
        "1.249,50 €;42\r\n"
        "04.06.2026;EUR;SP – Knoblauchpresse;Exakt;knoblauchpresse;Genau;knoblauchpresse edelstahl;310;6;5,46 €;"
        "0,00 €;0\r\n"
    ).encode("utf-8-sig")

    file_import = upload(data, name="suchbegriffe.csv", marketplace="DE")

    assert file_import.status == RunStatus.SUCCEEDED, file_import.message
    assert totals(org) == {
        "rows": 2,
        "impressions": 1514,
        "clicks": 43,
        "cost": Decimal("35.80"),
        "sales": Decimal("1249.50"),
        "orders": 42,
        "units": 0,
    }
    first = facts(org).get(date=date(2026, 6, 3))
    assert (first.match_type, first.attribution_window, first.account_id, first.impressions) == (
        "EXACT",
        "7d",
        "import:DE",
        1204,
    )


def test_utf16_big_endian_and_without_byte_order_mark(upload, org, other_org):
    text = (FILES / "google_ads_de_utf16.csv").read_bytes().decode("utf-16")

    big_endian = upload(codecs.BOM_UTF16_BE + text.encode("utf-16-be"), name="be.csv")
    no_bom = upload(text.encode("utf-16-le"), name="le.csv", organization=other_org)

    assert (big_endian.status, big_endian.rows_written) == (RunStatus.SUCCEEDED, 3)
    assert (no_bom.status, no_bom.rows_written) == (RunStatus.SUCCEEDED, 3)
    assert totals(org)["cost"] == totals(other_org)["cost"] == Decimal("2848.79")


def test_meta_ads_manager_export(upload, org):
    file_import = upload("meta_ads_manager.csv")

    assert file_import.status == RunStatus.SUCCEEDED, file_import.message
    assert file_import.detected_format == ImportFormat.META_ADS_MANAGER
    assert (file_import.rows_total, file_import.rows_written) == (4, 4)  # the account-total row is skipped
    assert totals(org) == {
        "rows": 4,
        "impressions": 15234,
        "clicks": 412,
        "cost": Decimal("182.45"),
        "sales": Decimal("416.50"),
        "orders": 14,
        "units": 0,
    }
    rows = facts(org).order_by("date", "target_id")
    campaign, ad_set = "120210000000000001", "120210000000000011"
    assert [(f.date, f.grain, f.campaign_id, f.ad_group_id, f.target_id, f.target_text) for f in rows] == [
        (date(2026, 6, 3), "target", campaign, ad_set, "120210000000000101", "Video A"),
        (date(2026, 6, 3), "target", campaign, ad_set, "120210000000000102", "Carousel B"),
        (date(2026, 6, 4), "target", campaign, ad_set, "120210000000000101", "Video A"),
        (date(2026, 6, 4), "target", "120210000000000002", "120210000000000012", "120210000000000103", "Video A"),
    ]
    assert [f.attribution_window for f in rows] == ["7dc+1dv", "7dc+1dv", "7dc+1dv", "1dc"]
    assert set(facts(org).values_list("channel", "account_id", "currency")) == {("meta", "import:USD", "USD")}
    assert entity_counts(org) == (1, 2, 2)


# --- re-imports ------------------------------------------------------------------------------------------
def test_reimporting_the_same_file_is_reported_and_loads_nothing(upload, org):
    first = upload("amazon_sp_search_term_daily.csv")
    before = (totals(org), entity_counts(org), list(facts(org).values_list("updated_at", flat=True).order_by("id")))

    second = upload("amazon_sp_search_term_daily.csv", name="again.csv")

    assert second.status == RunStatus.SUCCEEDED
    assert second.sha256 == first.sha256
    assert second.rows_written == 0
    assert second.detected_format == ImportFormat.AMAZON_SP_SEARCH_TERM
    assert second.message.startswith("This file was already imported on ")
    assert second.message.endswith("; nothing was loaded again.")
    after = (totals(org), entity_counts(org), list(facts(org).values_list("updated_at", flat=True).order_by("id")))
    assert after == before


def test_reimporting_the_same_rows_in_another_file_upserts_without_duplicates(upload, org):
    first = upload("amazon_sp_search_term_daily.csv")
    before = (totals(org), entity_counts(org))
    same_rows = (FILES / "amazon_sp_search_term_daily.csv").read_bytes().replace(b"\r\n", b"\n")

    second = upload(same_rows, name="search-terms-lf.csv")

    assert second.sha256 != first.sha256
    assert second.status == RunStatus.SUCCEEDED, second.message
    assert (second.rows_total, second.rows_written) == (8, 8)  # 8 rows updated in place
    assert (totals(org), entity_counts(org)) == before
    assert set(facts(org).values_list("source_ref", flat=True)) == {second.pk}


def test_the_same_file_in_another_organization_is_loaded_there(upload, org, other_org):
    upload("meta_ads_manager.csv")
    other = upload("meta_ads_manager.csv", organization=other_org)

    assert (other.status, other.rows_written) == (RunStatus.SUCCEEDED, 4)
    assert totals(other_org)["rows"] == totals(org)["rows"] == 4


# --- refused files -------------------------------------------------------------------------------------
def _row_errors(message):
    return f"Nothing was imported: the file has {message}"  # then the first problem


REFUSED = [
    pytest.param(
        "amazon_sp_search_term_missing_column.csv",
        "This Amazon search term report has no “Spend” column. Add it to the report, download it and upload it again.",
        [{"row": 1, "column": "Spend"}],
        id="missing-column",
    ),
    pytest.param(
        "amazon_sp_search_term_bad_number.csv",
        _row_errors("1 problem. Row 3, “Clicks”: “6x” is not a number."),
        [{"row": 3, "column": "Clicks", "message": "“6x” is not a number."}],
        id="bad-number",
    ),
    pytest.param(
        "amazon_sp_search_term_latin1.csv",
        "The file is not UTF-8 text (first at row 4). Download the report again, or save it as “CSV UTF-8” in "
        "Excel, and upload it again.",
        [{"row": 4, "column": ""}],
        id="latin-1-bytes",
    ),
    pytest.param(
        "meta_ads_manager_scientific_ids.csv",
        _row_errors(
            "1 problem. Row 5, “Campaign ID”: “1.20210E+17” is an id that Excel turned into a "
            "rounded number, so its digits are lost. Download the report again and upload it without opening and "
            "saving it in Excel."
        ),
        [{"row": 5, "column": "Campaign ID"}],
        id="scientific-notation-id",
    ),
    pytest.param(
        "amazon_campaign_span.csv",
        _row_errors(
            "2 problems. Row 2, “Date range”: This row covers Jul 13, 2026 - Aug 01, 2026. We store "
            "daily figures: download the report with one row per day (time unit “Daily”, or the “Day” segment or "
            "breakdown) and upload it again."
        ),
        [{"row": 2, "column": "Date range"}, {"row": 3, "column": "Date range"}],
        id="span-report",
    ),
    pytest.param(
        b'Campaign report\r\n"June 1, 2026 - June 30, 2026"\r\nCampaign,Currency code,Impr.,Clicks,Cost\r\n'
        b'Brand,USD,"5,354",864,"1,316.14"\r\n',
        "This row covers June 1, 2026 - June 30, 2026. We store daily figures: download the report with one row per "
        "day (time unit “Daily”, or the “Day” segment or breakdown) and upload it again.",
        [{"row": 2, "column": ""}],
        id="google-without-day-segment",
    ),
    pytest.param(
        random.Random(1).randbytes(2048),
        "We could not read this file as a CSV or Excel report. Upload the report as you downloaded it from Amazon "
        "Ads, Google Ads or Meta Ads Manager (.csv or .xlsx).",
        [],
        id="binary-garbage",
    ),
    pytest.param(
        b"name,colour,size\r\napple,red,3\r\n",
        "We did not recognise this report. We read Amazon Sponsored Products search term and campaign reports, "
        "Google Ads reports and Meta Ads Manager exports, as downloaded (CSV or XLSX).",
        [],
        id="unknown-layout",
    ),
    pytest.param(
        b"\xef\xbb\xbf\r\n\r\n",
        "The file is empty.",
        [],
        id="only-a-bom",
    ),
    pytest.param(
        (FILES / "amazon_sp_search_term_daily.csv").read_bytes().split(b"\r\n")[0] + b"\r\n",
        "The report has no rows to import. Check its date range and filters.",
        [],
        id="header-only",
    ),
    pytest.param(
        b"PK\x03\x04not really a workbook",
        "We could not read this file as a CSV or Excel report. Upload the report as you downloaded it from Amazon "
        "Ads, Google Ads or Meta Ads Manager (.csv or .xlsx).",
        [],
        id="broken-xlsx",
    ),
]


@pytest.mark.parametrize(("source", "message", "errors"), REFUSED)
def test_refused_files_fail_with_a_message_and_write_nothing(upload, org, source, message, errors):
    file_import = upload(source)

    assert file_import.status == RunStatus.FAILED
    assert file_import.message == message
    assert [{k: e[k] for k in expected} for e, expected in zip(file_import.errors, errors, strict=True)] == errors
    assert file_import.rows_written == 0
    assert file_import.finished_at is not None
    assert totals(org)["rows"] == 0
    assert entity_counts(org) == (0, 0, 0)


def test_ten_megabytes_of_random_garbage_fail_fast(upload, org, tmp_path):
    garbage = tmp_path / "garbage.csv"
    noise = random.Random(2)
    with open(garbage, "wb") as f:
        for _ in range(10):
            f.write(noise.randbytes(1024 * 1024))

    started = time.monotonic()
    file_import = upload(garbage.read_bytes(), name="garbage.csv")

    assert time.monotonic() - started < 10
    assert file_import.status == RunStatus.FAILED
    assert file_import.size_bytes == 10 * 1024 * 1024
    assert file_import.message.startswith("We could not read this file as a CSV or Excel report.")
    assert (totals(org)["rows"], entity_counts(org)) == (0, (0, 0, 0))


def test_errors_stop_at_one_hundred(upload, org):
    lines = (FILES / "amazon_sp_search_term_daily.csv").read_text().splitlines()
    bad_row = lines[1].replace(",37,3.0731%,", ",lots,3.0731%,")
    assert bad_row != lines[1]
    data = "\r\n".join([lines[0]] + [bad_row] * 150 + lines[1:]) + "\r\n"

    file_import = upload(data.encode(), name="many-problems.csv")

    assert file_import.status == RunStatus.FAILED
    assert len(file_import.errors) == 100
    assert file_import.errors[0] == {"row": 2, "column": "Clicks", "message": "“lots” is not a number."}
    assert file_import.errors[-1]["row"] == 101
    assert file_import.message.startswith("Nothing was imported: the file has at least 100 problems. Row 2,")
    assert totals(org)["rows"] == 0


def test_an_empty_upload_is_refused_before_anything_is_stored(org, owner, media_root):
    with pytest.raises(ValidationError) as refused:
        service.file_import_create(organization=org, uploaded_file=SimpleUploadedFile("empty.csv", b""), user=owner)

    assert refused.value.messages == ["The file is empty."]
    assert not FileImport.unscoped_objects.filter(organization=org).exists()
    assert list(Path(media_root).rglob("*.*")) == []


def test_a_file_over_the_size_limit_is_refused_and_not_kept(org, owner, media_root, settings):
    settings.FILE_IMPORT_MAX_BYTES = 1024 * 1024
    big = SimpleUploadedFile("big.csv", b"x" * (1024 * 1024 + 1))
    big.size = None  # as a streamed upload whose size is not declared: the chunks are counted

    with pytest.raises(ValidationError) as refused:
        service.file_import_create(organization=org, uploaded_file=big, user=owner)

    assert refused.value.messages == [
        "The file is larger than 1 MB. Download the report for a shorter date range and upload each part."
    ]
    assert not FileImport.unscoped_objects.filter(organization=org).exists()
    assert list(Path(media_root).rglob("*.*")) == []


# --- running -------------------------------------------------------------------------------------------
def test_an_import_is_claimed_once(upload, org):
    from accounts.scoping import organization_scope

    file_import = upload("meta_ads_manager.csv")

    with organization_scope(org):
        assert service.file_import_run(import_id=file_import.pk) is None  # no longer queued
    assert totals(org)["rows"] == 4


def test_the_task_is_registered_where_celery_finds_it():
    import connectors.tasks  # noqa: F401 - the module Celery autodiscovers
    from config.celery_app import app

    assert "connectors.imports.tasks.run_file_import" in app.tasks


@pytest.mark.django_db(transaction=True)
def test_progress_is_written_beside_the_load_transaction(org, owner, settings):
    """With committed rows (no test transaction), progress goes through a second connection while the load
    transaction is open: it must neither block on the import row nor be lost."""
    settings.FILE_IMPORT_PROGRESS_ROWS = 2
    uploaded = SimpleUploadedFile("search-terms.csv", (FILES / "amazon_sp_search_term_daily.csv").read_bytes())

    created = service.file_import_create(organization=org, uploaded_file=uploaded, user=owner)

    file_import = FileImport.unscoped_objects.get(pk=created.pk)
    assert (file_import.status, file_import.rows_total, file_import.rows_written) == (RunStatus.SUCCEEDED, 8, 8)
    assert file_import.progress == 100
    assert totals(org)["rows"] == 8


# --- detection and values --------------------------------------------------------------------------------
def test_headers_are_normalised():
    assert normalize_header(" 7 Day Total Sales ") == ("7 day total sales", "")
    assert normalize_header("\ufeffAmount spent (USD)") == ("amount spent", "USD")
    assert normalize_header("CPC (cost per link click) (SGD)") == ("cpc (cost per link click)", "SGD")
    assert normalize_header("Cost Per Click (CPC)") == ("cost per click (cpc)", "")
    assert normalize_header("Total Advertising Cost of Sales (ACoS) ") == normalize_header(
        "Total Advertising Cost of Sales (ACOS)"
    )


@pytest.mark.parametrize(
    ("records", "family", "row"),
    [
        ([["Date", "Campaign Name", "Ad Group Name", "Customer Search Term ", "Impressions", "Spend"]], "amazon", 1),
        ([["Report"], ["All time"], ["Day", "Campaign", "Currency code", "Impr.", "Clicks", "Cost"]], "google", 3),
        ([["Inicio del informe", "Fin del informe", "Nombre de la campaña", "Importe gastado (EUR)"]], "meta", 1),
        ([["日付", "キャンペーン名", "インプレッション", "費用", "7日間の総売上高"]], "amazon", 1),
    ],
)
def test_the_header_row_and_platform_are_found(records, family, row):
    header = find_header(records, FAMILIES)

    assert (header.family.name, header.row) == (family, row)


def test_numbers_in_each_locale():
    assert to_decimal("12.34", False) == Decimal("12.34")
    assert parse_decimal("$1,234.56", False) == Decimal("1234.56")
    assert parse_decimal("1.234,56 €", True) == Decimal("1234.56")
    assert parse_decimal("￥3,608", False) == Decimal("3608")
    assert parse_decimal("(12.50)", False) == Decimal("-12.50")
    assert parse_decimal("--", False) == Decimal(0)
    assert to_count("1.204", True) == 1204
    assert to_count("1,204", False) == 1204
    for bad, comma in (("1,2", False), ("1.234.5", False), ("12x", False), ("NaN", False), ("1,234.5", True)):
        with pytest.raises(CellError):
            parse_decimal(bad, comma)
    with pytest.raises(CellError, match="is not a whole number"):
        to_count("1.5", False)
    with pytest.raises(CellError, match="below zero"):
        to_count("-3", False)


def test_dates_in_each_format():
    june_3 = date(2026, 6, 3)
    assert parse_date("Jun 03, 2026", False) == june_3
    assert parse_date("June 3, 2026", False) == june_3
    assert parse_date("2026-06-03", False) == june_3
    assert parse_date("2026/06/03", False) == june_3
    assert parse_date("03.06.2026", False) == june_3
    assert parse_date("03/06/2026", True) == june_3
    assert parse_date("06/03/2026", False) == june_3
    assert parse_date("13/06/2026", False) == date(2026, 6, 13)  # only day-first can read it
    assert parse_date("3. Juni 2026", True) == june_3
    assert parse_date("2026年6月3日", False) == june_3
    with pytest.raises(CellError):
        parse_date("32/13/2026", True)


def test_ids_and_match_types():
    assert parse_id('="555251554086397"') == "555251554086397"
    assert parse_id("120210000000000001") == "120210000000000001"
    with pytest.raises(CellError, match="Excel turned into a rounded number"):
        parse_id("1.20253E+17")
    assert match_type("-") == "TARGETING_EXPRESSION"
    assert match_type("exact") == "EXACT"
    assert match_type("Phrase match") == "PHRASE"
    assert match_type("完全一致") == "EXACT"
