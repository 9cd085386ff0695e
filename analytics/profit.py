"""Writes of the profit inputs: cost of goods per SKU (one at a time or a CSV), marketplace fees and VAT/GST.

Each write is an upsert on the table's natural key and leaves an audit row in the same transaction. A CSV of
costs is checked row by row before anything is written: one bad row and nothing is saved, and the error lists
every bad row with its line number.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from babel.numbers import is_currency
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from accounts.services import record_audit
from analytics import marks
from analytics.models import MarketplaceFee, ProductCost, SalesTax

COST_COLUMNS = ("sku", "marketplace", "unit_cost", "currency")
MAX_COST_ROWS = 50_000
MAX_ERRORS_SHOWN = 20
COST_LIMIT = Decimal("9999999999.9999")  # max_digits=14, decimal_places=4


@dataclass(frozen=True)
class CostInput:
    sku: str
    marketplace: str
    unit_cost: Decimal
    currency: str


def parse_amount(text: str, *, places: int = 4, limit: Decimal = COST_LIMIT) -> Decimal:
    """A non-negative amount with at most ``places`` decimals, or ValueError."""
    try:
        value = Decimal(text.strip().replace(",", ""))
    except (InvalidOperation, AttributeError) as exc:
        raise ValueError(text) from exc
    if not value.is_finite() or value < 0 or value > limit or -value.as_tuple().exponent > places:
        raise ValueError(text)
    return value


def valid_currency(code: str) -> str | None:
    code = (code or "").strip().upper()
    return code if len(code) == 3 and is_currency(code) else None


def parse_cost_csv(data: bytes) -> list[CostInput]:
    """Rows of a ``sku,marketplace,unit_cost,currency`` file (header required, marketplace may be empty), or a
    ValidationError listing every bad line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(_("The file is not UTF-8 text. Save it as CSV UTF-8 and upload it again.")) from exc
    reader = csv.reader(io.StringIO(text))
    header = [cell.strip().lower() for cell in next(reader, [])]
    if header[:4] != list(COST_COLUMNS):
        raise ValidationError(_("The first line must be the header %(header)s.") % {"header": ",".join(COST_COLUMNS)})
    rows, errors, seen = [], [], {}
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(rows) + len(errors) >= MAX_COST_ROWS:
            raise ValidationError(_("The file has more than %(n)d rows. Split it.") % {"n": MAX_COST_ROWS})
        problems = []
        cells = [cell.strip() for cell in cells] + [""] * (4 - len(cells))
        sku, marketplace, amount, currency = cells[:4]
        if len(cells) > 4 and any(cells[4:]):
            problems.append(_("more than 4 columns"))
        if not sku or len(sku) > 128:
            problems.append(_("the SKU is missing or longer than 128 characters"))
        if len(marketplace) > 64:
            problems.append(_("the marketplace is longer than 64 characters"))
        try:
            unit_cost = parse_amount(amount)
        except ValueError:
            unit_cost = None
            problems.append(_("the unit cost %(value)r is not an amount of 0 or more") % {"value": amount})
        code = valid_currency(currency)
        if code is None:
            problems.append(_("the currency %(value)r is not an ISO 4217 code") % {"value": currency})
        key = (sku, marketplace)
        if sku and key in seen:
            problems.append(_("the same SKU and marketplace as line %(line)d") % {"line": seen[key]})
        seen.setdefault(key, line)
        if problems:
            errors.append(_("line %(line)d: %(problems)s") % {"line": line, "problems": "; ".join(problems)})
        else:
            rows.append(CostInput(sku, marketplace, unit_cost, code))
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        if len(errors) > MAX_ERRORS_SHOWN:
            shown.append(_("… and %(n)d more bad lines") % {"n": len(errors) - MAX_ERRORS_SHOWN})
        raise ValidationError(
            [
                _("Nothing was saved: %(n)d line(s) are not valid. Fix them and upload the file again.")
                % {"n": len(errors)}
            ]
            + shown
        )
    if not rows:
        raise ValidationError(_("The file has no cost rows under its header."))
    return rows


@transaction.atomic
def product_costs_import(*, organization: Organization, actor: User | None, data: bytes) -> int:
    """Upsert every row of a cost CSV (all or nothing). Returns how many rows were saved."""
    rows = parse_cost_csv(data)
    ProductCost.unscoped_objects.bulk_create(
        [
            ProductCost(
                organization=organization,
                sku=row.sku,
                marketplace=row.marketplace,
                unit_cost=row.unit_cost,
                currency=row.currency,
            )
            for row in rows
        ],
        update_conflicts=True,
        unique_fields=["organization", "sku", "marketplace"],
        update_fields=["unit_cost", "currency", "updated_at"],
        batch_size=2000,
    )
    marks.costs_changed(organization_id=organization.pk)
    record_audit(
        organization=organization,
        actor=actor,
        verb="analytics.costs_imported",
        target=organization,
        data={"rows": len(rows)},
    )
    return len(rows)


@transaction.atomic
def product_cost_set(
    *, organization: Organization, actor: User | None, sku: str, marketplace: str, unit_cost: Decimal, currency: str
) -> ProductCost:
    cost, _created = ProductCost.unscoped_objects.update_or_create(
        organization=organization,
        sku=sku,
        marketplace=marketplace,
        defaults={"unit_cost": unit_cost, "currency": currency},
    )
    marks.costs_changed(organization_id=organization.pk)
    record_audit(
        organization=organization,
        actor=actor,
        verb="analytics.cost_set",
        target=cost,
        data={"sku": sku, "marketplace": marketplace, "unit_cost": str(unit_cost), "currency": currency},
    )
    return cost


@transaction.atomic
def product_cost_delete(*, organization: Organization, actor: User | None, sku: str, marketplace: str) -> bool:
    cost = ProductCost.unscoped_objects.filter(organization=organization, sku=sku, marketplace=marketplace).first()
    if cost is None:
        return False
    marks.costs_changed(organization_id=organization.pk)
    record_audit(
        organization=organization,
        actor=actor,
        verb="analytics.cost_deleted",
        target=cost,
        data={"sku": sku, "marketplace": marketplace},
    )
    cost.delete()
    return True


@transaction.atomic
def marketplace_fee_set(
    *,
    organization: Organization,
    actor: User | None,
    platform: str,
    marketplace: str,
    referral_pct: Decimal,
    fixed_per_order: Decimal,
    fulfilment_per_unit: Decimal,
    currency: str,
    source: str,
) -> MarketplaceFee:
    """The organization's own fee row for a platform and marketplace (it replaces the default from then on)."""
    values = {
        "referral_pct": referral_pct,
        "fixed_per_order": fixed_per_order,
        "fulfilment_per_unit": fulfilment_per_unit,
        "currency": currency,
        "source": source,
    }
    fee, _created = MarketplaceFee.unscoped_objects.update_or_create(
        organization=organization, platform=platform, marketplace=marketplace, defaults=values
    )
    marks.costs_changed(organization_id=organization.pk)
    record_audit(
        organization=organization,
        actor=actor,
        verb="analytics.fee_set",
        target=fee,
        data={"platform": platform, "marketplace": marketplace, **{k: str(v) for k, v in values.items()}},
    )
    return fee


@transaction.atomic
def sales_tax_set(
    *,
    organization: Organization,
    actor: User | None,
    marketplace: str,
    rate_pct: Decimal,
    prices_include_tax: bool,
    source: str,
) -> SalesTax:
    values = {"rate_pct": rate_pct, "prices_include_tax": prices_include_tax, "source": source}
    tax, _created = SalesTax.unscoped_objects.update_or_create(
        organization=organization, marketplace=marketplace, defaults=values
    )
    marks.costs_changed(organization_id=organization.pk)
    record_audit(
        organization=organization,
        actor=actor,
        verb="analytics.tax_set",
        target=tax,
        data={"marketplace": marketplace, **{k: str(v) for k, v in values.items()}},
    )
    return tax
