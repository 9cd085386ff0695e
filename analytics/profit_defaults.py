"""Starting figures for the profit inputs an organization has not entered itself: marketplace fees and VAT/GST.

These are public headline rates, each with where it comes from and when it was read. They are a starting
point, not the seller's contract: real fees depend on category, seller programme and promotions, so every row
is editable per organization on the Profit page (an organization's own row always wins over a default).

``marketplace`` '' on a fee row means "any marketplace of this platform without a row of its own".
Percentages are of the sale price; fixed amounts are in the row's currency. Where a platform charges two
percentages (Shopee's commission and transaction fee) the row holds their sum and the note names both.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class FeeDefault:
    platform: str
    marketplace: str
    referral_pct: Decimal
    fixed_per_order: Decimal
    fulfilment_per_unit: Decimal
    currency: str
    source: str
    as_of: str
    note: str = ""

    @property
    def source_text(self) -> str:
        """What is stored in ``MarketplaceFee.source`` when a seller saves this row as their own."""
        return " · ".join(part for part in (self.source, f"as of {self.as_of}", self.note) if part)


@dataclass(frozen=True)
class TaxDefault:
    marketplace: str
    rate_pct: Decimal
    prices_include_tax: bool
    source: str
    as_of: str
    note: str = ""

    @property
    def source_text(self) -> str:
        return " · ".join(part for part in (self.source, f"as of {self.as_of}", self.note) if part)


D = Decimal
AMAZON_FEES = "https://sellercentral.amazon.com/gp/help/external/200336920"
AMAZON_NOTE = (
    "referral fee of most categories incl. Home & Kitchen (15%); Professional plan, no per-item fee; "
    "FBA fulfilment depends on size tier: enter yours per unit"
)

FEES: tuple[FeeDefault, ...] = (
    FeeDefault("amazon_sp", "US", D("15"), D("0"), D("0"), "USD", AMAZON_FEES, "2025-06", AMAZON_NOTE),
    FeeDefault(
        "amazon_sp", "CA", D("15"), D("0"), D("0"), "CAD", "https://sell.amazon.ca/pricing", "2025-06", AMAZON_NOTE
    ),
    FeeDefault(
        "amazon_sp",
        "UK",
        D("15"),
        D("0"),
        D("0"),
        "GBP",
        "https://sell.amazon.co.uk/pricing",
        "2025-06",
        AMAZON_NOTE,
    ),
    FeeDefault(
        "amazon_sp",
        "DE",
        D("15"),
        D("0"),
        D("0"),
        "EUR",
        "https://sell.amazon.de/preise",
        "2025-06",
        AMAZON_NOTE,
    ),
    FeeDefault(
        "amazon_sp",
        "JP",
        D("15"),
        D("0"),
        D("0"),
        "JPY",
        "https://sell.amazon.co.jp/pricing",
        "2025-06",
        AMAZON_NOTE,
    ),
    FeeDefault(
        "shopee",
        "SG",
        D("6.18"),
        D("0"),
        D("0"),
        "SGD",
        "https://www.getonecart.com/shopee-seller-fees",
        "2026-01",
        "third-party summary: commission 2-6% by category and seller type (4% used) + transaction fee 2.18%; "
        "check your category in Shopee's Seller Education Hub",
    ),
    FeeDefault(
        "shopee",
        "MY",
        D("8.78"),
        D("0.50"),
        D("0"),
        "MYR",
        "https://blog.tongpaidang.com/blog/articleDetails/3381/shopee-transaction-fee-2025.htm",
        "2025-06",
        "commission 0-11% by category (5% used) + transaction fee 3.78% incl. 8% SST; "
        "platform support fee RM0.50 per order (small and new sellers exempt)",
    ),
    FeeDefault(
        "shopee",
        "TH",
        D("8.56"),
        D("0"),
        D("0"),
        "THB",
        "https://seller.shopee.co.th",
        "2025-01",
        "estimate, not checked against a published schedule: commission 5% + 7% VAT (5.35%) + transaction fee "
        "3% + 7% VAT (3.21%); enter your category's rate",
    ),
    FeeDefault(
        "tiktok_shop",
        "US",
        D("6"),
        D("0"),
        D("0"),
        "USD",
        "https://seller-us.tiktok.com/university/essay?knowledge_id=5982454398175018",
        "2024-04-01",
        "referral fee 6% of customer payment + platform discount - tax on qualified orders",
    ),
    FeeDefault(
        "tiktok_shop",
        "UK",
        D("9"),
        D("0"),
        D("0"),
        "GBP",
        "https://docs.m2ecloud.com/docs/tiktok-shop-seller-fees-uk/",
        "2025-06",
        "third-party summary: commission 9% incl. VAT for most categories",
    ),
    FeeDefault(
        "ebay",
        "EBAY_US",
        D("13.6"),
        D("0.40"),
        D("0"),
        "USD",
        "https://www.ebay.com/help/selling/fees-credits-invoices/selling-fees?id=4822",
        "2025-02",
        "final value fee of most categories up to $7,500; per-order fee $0.40 over $10 ($0.30 at or under) "
        "since 2024-03-15",
    ),
    FeeDefault(
        "ebay",
        "EBAY_GB",
        D("12.8"),
        D("0.30"),
        D("0"),
        "GBP",
        "https://www.ebay.co.uk/help/selling/fees-credits-invoices/selling-fees?id=4822",
        "2025-01",
        "business sellers, most categories (check your category); private sellers pay no final value fee on most items",
    ),
    FeeDefault(
        "shopify",
        "",
        D("2.9"),
        D("0.30"),
        D("0"),
        "USD",
        "https://www.shopify.com/pricing",
        "2025-06",
        "Shopify Payments online card rate on the Basic plan in the US; other plans and countries differ",
    ),
)

TAXES: tuple[TaxDefault, ...] = (
    TaxDefault(
        "DE",
        D("19"),
        True,
        "https://taxation-customs.ec.europa.eu/taxation/vat/vat-directive/vat-rates_en",
        "2025-01",
        "standard rate",
    ),
    TaxDefault("UK", D("20"), True, "https://www.gov.uk/vat-rates", "2025-01", "standard rate"),
    TaxDefault("EBAY_GB", D("20"), True, "https://www.gov.uk/vat-rates", "2025-01", "standard rate"),
    TaxDefault(
        "JP",
        D("10"),
        True,
        "https://www.nta.go.jp/english/taxes/consumption_tax/01.htm",
        "2019-10-01",
        "standard consumption tax rate (8% reduced rate for food)",
    ),
    TaxDefault(
        "SG",
        D("9"),
        True,
        "https://www.iras.gov.sg/taxes/goods-services-tax-(gst)/basics-of-gst/current-gst-rates",
        "2024-01-01",
        "GST",
    ),
    TaxDefault(
        "MY",
        D("10"),
        True,
        "https://mysst.customs.gov.my/",
        "2025-07-01",
        "SST sales tax on taxable goods (5% on some goods; many essentials exempt)",
    ),
    TaxDefault("TH", D("7"), True, "https://www.rd.go.th/english/6043.html", "2024-10-01", "VAT"),
    TaxDefault(
        "US",
        D("0"),
        False,
        "https://www.irs.gov/businesses/small-businesses-self-employed/state-links-1",
        "2025-01",
        "no federal VAT; state sales tax is added at checkout, not part of the price",
    ),
    TaxDefault(
        "EBAY_US",
        D("0"),
        False,
        "https://www.irs.gov/businesses/small-businesses-self-employed/state-links-1",
        "2025-01",
        "state sales tax is added at checkout, not part of the price",
    ),
)


def default_fees() -> dict[tuple[str, str], FeeDefault]:
    return {(fee.platform, fee.marketplace): fee for fee in FEES}


def default_taxes() -> dict[str, TaxDefault]:
    return {tax.marketplace: tax for tax in TAXES}
