"""copy_upsert: COPY into a staging table, then one INSERT ... ON CONFLICT per chunk (StoreSalesDaily as target)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.tests.factories import OrganizationFactory
from analytics.bulk import copy_upsert
from analytics.models import StoreSalesDaily
from analytics.services import SALES_TARGET

DAY = date(2026, 3, 1)
STAGE = "_stage_" + StoreSalesDaily._meta.db_table


def row(org, sku: str, orders: int, total: str, day: date = DAY) -> tuple:
    """A row in SALES_TARGET.columns order."""
    return (org.pk, "amazon_sp", "US", day, sku, orders, orders * 2, Decimal(total), "USD", 7)


def stored(org) -> list[tuple]:
    return list(
        StoreSalesDaily.unscoped_objects.filter(organization=org)
        .order_by("date", "sku")
        .values_list("sku", "orders", "units", "total_sales", "currency", "source_ref")
    )


def load(rows, **kwargs):
    calls: list[tuple[int, int]] = []
    result = copy_upsert(SALES_TARGET, iter(rows), progress=lambda r, w: calls.append((r, w)), **kwargs)
    return result, calls


def test_inserts(org):
    result, calls = load([row(org, "A", 1, "10.50"), row(org, "B", 2, "20.00"), row(org, "C", 3, "0.0100")])

    assert result == (3, 3)
    assert calls == [(3, 3)]
    assert stored(org) == [
        ("A", 1, 2, Decimal("10.5000"), "USD", 7),
        ("B", 2, 4, Decimal("20.0000"), "USD", 7),
        ("C", 3, 6, Decimal("0.0100"), "USD", 7),
    ]
    first = StoreSalesDaily.unscoped_objects.get(organization=org, sku="A")
    assert first.created_at is not None and first.updated_at is not None


def test_upserts_on_the_natural_key(org, other_org):
    load([row(org, "A", 1, "10.00"), row(org, "B", 2, "20.00"), row(other_org, "A", 9, "90.00")])
    kept = StoreSalesDaily.unscoped_objects.get(organization=org, sku="A").pk

    result, _ = load([row(org, "A", 4, "44.00"), row(org, "A", 1, "10.00", day=date(2026, 3, 2))])

    assert result == (2, 2)
    assert stored(org) == [
        ("A", 4, 8, Decimal("44.0000"), "USD", 7),
        ("B", 2, 4, Decimal("20.0000"), "USD", 7),
        ("A", 1, 2, Decimal("10.0000"), "USD", 7),
    ]
    assert StoreSalesDaily.unscoped_objects.get(organization=org, sku="A", date=DAY).pk == kept
    assert stored(other_org) == [("A", 9, 18, Decimal("90.0000"), "USD", 7)]  # another tenant's key


def test_the_last_row_for_a_key_in_one_load_wins(org):
    result, _ = load([row(org, "A", 1, "1.00"), row(org, "B", 2, "2.00"), row(org, "A", 5, "5.00")])

    assert result == (3, 2)  # three read, two distinct keys written
    assert stored(org) == [("A", 5, 10, Decimal("5.0000"), "USD", 7), ("B", 2, 4, Decimal("2.0000"), "USD", 7)]


def test_chunks_keep_counts_and_order_across_boundaries(org):
    rows = [row(org, s, n, f"{n}.00") for n, s in enumerate("ABCD", start=1)] + [row(org, "A", 9, "9.99")]

    result, calls = load(rows, chunk_rows=2)

    assert result == (5, 5)
    assert calls == [(2, 2), (4, 4), (5, 5)]
    assert [(s, o, t) for s, o, _, t, *_ in stored(org)] == [
        ("A", 9, Decimal("9.9900")),  # the later chunk overwrote the earlier one
        ("B", 2, Decimal("2.0000")),
        ("C", 3, Decimal("3.0000")),
        ("D", 4, Decimal("4.0000")),
    ]


def test_a_duplicate_inside_a_chunk_counts_once(org):
    rows = [row(org, "A", 1, "1.00"), row(org, "B", 2, "2.00"), row(org, "A", 3, "3.00"), row(org, "C", 4, "4.00")]

    result, calls = load(rows, chunk_rows=3)

    assert result == (4, 3)
    assert calls == [(3, 2), (4, 3)]
    assert StoreSalesDaily.unscoped_objects.get(organization=org, sku="A").orders == 3


def test_an_exact_multiple_of_the_chunk_size(org):
    rows = [row(org, s, 1, "1.00") for s in "ABCD"]

    result, calls = load(rows, chunk_rows=2)

    assert result == (4, 4)
    assert calls == [(2, 2), (4, 4)]  # no empty third statement


def test_nothing_to_load(org):
    assert load([]) == ((0, 0), [])
    assert stored(org) == []


def test_rows_are_consumed_lazily(org):
    produced: list[str] = []

    def rows():
        for sku in "ABCDE":
            produced.append(sku)
            yield row(org, sku, 1, "1.00")

    seen: list[list[str]] = []
    copy_upsert(SALES_TARGET, rows(), chunk_rows=2, progress=lambda r, w: seen.append(list(produced)))

    assert seen == [["A", "B"], ["A", "B", "C", "D"], ["A", "B", "C", "D", "E"]]


def test_a_failed_load_in_a_savepoint_leaves_the_outer_transaction_usable(org):
    load([row(org, "A", 1, "1.00")])

    with pytest.raises(IntegrityError), transaction.atomic():
        load([row(org, "B", 2, "2.00"), (*row(org, "C", 3, "3.00")[:8], None, 7)])  # currency NULL

    assert stored(org) == [("A", 1, 2, Decimal("1.0000"), "USD", 7)]
    assert load([row(org, "D", 4, "4.00")])[0] == (1, 1)
    assert [s for s, *_ in stored(org)] == ["A", "D"]


@pytest.mark.django_db(transaction=True)
def test_inside_an_outer_transaction_it_commits_and_rolls_back_with_it():
    org = OrganizationFactory()

    with pytest.raises(RuntimeError), transaction.atomic():
        assert load([row(org, "A", 1, "1.00"), row(org, "B", 2, "2.00")])[0] == (2, 2)
        assert load([row(org, "B", 5, "5.00"), row(org, "C", 3, "3.00")])[0] == (2, 2)  # staging table reused
        assert [s for s, *_ in stored(org)] == ["A", "B", "C"]
        raise RuntimeError("the caller's transaction fails after the load")

    assert stored(org) == []

    with transaction.atomic():
        load([row(org, "A", 1, "1.00")])
        load([row(org, "A", 2, "2.00")])
    assert stored(org) == [("A", 2, 4, Decimal("2.0000"), "USD", 7)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"pg_temp.{STAGE}"])
        assert cursor.fetchone()[0] is None  # the staging table went with the commit

    load([row(org, "A", 3, "3.00")])  # on its own: its own transaction
    again = StoreSalesDaily.unscoped_objects.get(organization=org)
    assert again.orders == 3
    assert again.updated_at > again.created_at  # an update moves updated_at, keeps created_at
