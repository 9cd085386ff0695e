"""Attribution models on hand-built journeys (exact credits), traffic-source classification, journeys from
stored orders."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from analytics import attribution as a
from analytics.attribution import Journey, Touch

AT = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
G = Touch(source="google", medium="cpc", campaign="brand")
M = Touch(source="facebook", medium="paid_social", campaign="spring")
E = Touch(source="klaviyo", medium="email", campaign="weekly")
D = Touch()


def credits(touches, model, value, **kwargs):
    return a.attribute(Journey(Decimal(value), AT, tuple(touches)), model, **kwargs)


# --- models ---------------------------------------------------------------------------------------------


def test_first_and_last_click_give_everything_to_one_end():
    assert credits([G, M, E], a.FIRST_CLICK, "120.00") == {"google_ads": Decimal("120.00")}
    assert credits([G, M, E], a.LAST_CLICK, "120.00") == {"email": Decimal("120.00")}


def test_linear_splits_equally_and_the_remainder_goes_to_the_first_of_equal_shares():
    assert credits([G, M, E], a.LINEAR, "100.00") == {
        "google_ads": Decimal("33.34"),
        "meta": Decimal("33.33"),
        "email": Decimal("33.33"),
    }


def test_linear_sums_repeated_sources():
    # google 2/3 -> 66.67, meta 1/3 -> 33.33: already exact
    assert credits([G, M, G], a.LINEAR, "100.00") == {"google_ads": Decimal("66.67"), "meta": Decimal("33.33")}


def test_a_negative_remainder_comes_off_the_largest_share():
    # 99.99 / 2 = 49.995 each, both round (half even) to 50.00: 0.01 too much, taken from the first
    assert credits([G, M], a.LINEAR, "99.99") == {"google_ads": Decimal("49.99"), "meta": Decimal("50.00")}


def test_remainder_goes_to_the_largest_share_not_the_first():
    # 1/7, 1/7, 5/7 of 1.00 -> 0.14 + 0.14 + 0.71 = 0.99: the missing cent goes to Google (the largest)
    assert credits([M, E, G, G, G, G, G], a.LINEAR, "1.00") == {
        "meta": Decimal("0.14"),
        "email": Decimal("0.14"),
        "google_ads": Decimal("0.72"),
    }
    # 1/6, 1/6, 4/6 of 0.10 -> 0.02 + 0.02 + 0.07 = 0.11: the extra cent comes off Google
    assert credits([M, E, G, G, G, G], a.LINEAR, "0.10") == {
        "meta": Decimal("0.02"),
        "email": Decimal("0.02"),
        "google_ads": Decimal("0.06"),
    }


def test_position_based_is_40_20_40():
    assert credits([G, M, E, D], a.POSITION_BASED, "250.00") == {
        "google_ads": Decimal("100.00"),
        "meta": Decimal("25.00"),
        "email": Decimal("25.00"),
        "direct": Decimal("100.00"),
    }
    # the 20 % in between shared by three touches, two of them Meta
    assert credits([G, M, E, M, D], a.POSITION_BASED, "100.00") == {
        "google_ads": Decimal("40.00"),
        "meta": Decimal("13.33"),
        "email": Decimal("6.67"),
        "direct": Decimal("40.00"),
    }


def test_position_based_with_one_or_two_touches():
    assert credits([G], a.POSITION_BASED, "80.00") == {"google_ads": Decimal("80.00")}
    assert credits([G, M], a.POSITION_BASED, "80.00") == {"google_ads": Decimal("40.00"), "meta": Decimal("40.00")}


def test_time_decay_halves_the_weight_every_half_life():
    touches = [
        Touch(source="google", medium="cpc", at=AT - timedelta(days=14)),
        Touch(source="facebook", medium="paid_social", at=AT - timedelta(days=7)),
        Touch(source="klaviyo", medium="email", at=AT),
    ]
    # weights 1/4, 1/2, 1 -> 1/7, 2/7, 4/7 of 70.00
    assert credits(touches, a.TIME_DECAY, "70.00") == {
        "google_ads": Decimal("10.00"),
        "meta": Decimal("20.00"),
        "email": Decimal("40.00"),
    }


def test_time_decay_half_life_is_a_parameter():
    touches = [Touch(source="google", medium="cpc", at=AT - timedelta(days=2)), Touch(source="klaviyo", at=AT)]
    # half-life 1 day: weights 1/4 and 1 -> 1/5, 4/5
    assert credits(touches, a.TIME_DECAY, "50.00", half_life=timedelta(days=1)) == {
        "google_ads": Decimal("10.00"),
        "email": Decimal("40.00"),
    }
    # default 7 days: 2^(-2/7) = 0.8203..; 0.8203 / 1.8203 = 0.45065 of 50.00 = 22.53
    assert credits(touches, a.TIME_DECAY, "50.00") == {"google_ads": Decimal("22.53"), "email": Decimal("27.47")}


def test_time_decay_without_touch_times_weighs_like_linear():
    assert credits([G, M], a.TIME_DECAY, "10.00") == {"google_ads": Decimal("5.00"), "meta": Decimal("5.00")}


def test_a_journey_without_touches_is_direct_under_every_model():
    for model in a.MODELS:
        assert credits([], model, "42.50") == {"direct": Decimal("42.50")}


def test_credits_keep_the_value_precision_and_sum_exactly():
    value = Decimal("10.0000")  # as the database stores order totals
    result = credits([G, M, E], a.LINEAR, value, places=Decimal("0.0001"))
    assert result == {"google_ads": Decimal("3.3334"), "meta": Decimal("3.3333"), "email": Decimal("3.3333")}
    for model in a.MODELS:
        for touches in ([G], [G, M], [G, M, E], [G, M, E, D, M, G, E]):
            assert sum(credits(touches, model, "123.47").values()) == Decimal("123.47")


def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown attribution model"):
        credits([G], "data_driven", "1.00")


# --- traffic sources ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("touch", "expected"),
    [
        (Touch(source="google", medium="cpc"), "google_ads"),
        (Touch(source="Google", medium="PPC"), "google_ads"),
        (Touch(source="facebook", medium="paid_social"), "meta"),
        (Touch(source="instagram", medium="paid"), "meta"),
        (Touch(source="ig", medium="cpm"), "meta"),
        (Touch(source="tiktok", medium="paid_social"), "tiktok_ads"),
        (Touch(source="tiktok"), "tiktok_ads"),
        (Touch(source="klaviyo", medium="email"), "email"),
        (Touch(source="newsletter"), "email"),
        (Touch(source="partner", medium="email"), "email"),
        (Touch(source="facebook", medium="social"), "organic_social"),
        (Touch(source="google", medium="organic"), "organic_search"),
        (Touch(source="bing", medium="cpc"), "other_paid"),
        (Touch(referrer="https://www.google.co.uk/"), "organic_search"),
        (Touch(referrer="https://www.bing.com/search?q=lamp"), "organic_search"),
        (Touch(referrer="https://l.instagram.com/"), "organic_social"),
        (Touch(referrer="https://t.co/abc"), "organic_social"),
        (Touch(referrer="https://blog.example.org/best-lamps"), "referral"),
        (Touch(landing_page="https://shop.test/p/lamp?gclid=abc"), "google_ads"),
        (Touch(landing_page="https://shop.test/p/lamp?ttclid=xyz"), "tiktok_ads"),
        (Touch(landing_page="https://shop.test/cart", referrer="https://shop.test/p/lamp"), "direct"),
        (Touch(source="some-blog", medium="affiliate"), "referral"),
        (Touch(label="google"), "organic_search"),
        (Touch(label="email"), "email"),
        (Touch(label="direct"), "direct"),
        (Touch(), "direct"),
    ],
)
def test_traffic_source(touch, expected):
    assert a.traffic_source(touch) == expected


# --- journeys from stored orders --------------------------------------------------------------------------


def visit(source, utm_source="", medium="", campaign="", referrer="", landing="https://homegoods-demo.com/"):
    """A visit as connectors.backends.shopify.mapping stores it."""
    return {
        "source": source,
        "landing_page": landing,
        "referrer": referrer,
        "utm": {"source": utm_source, "medium": medium, "campaign": campaign, "content": "", "term": ""},
    }


def journey(platform="shopify", attribution=None, landing_site="", referrer=""):
    return a.journey_from_order(
        platform=platform,
        ordered_at=AT,
        value=Decimal("100.0000"),
        landing_site=landing_site,
        referrer=referrer,
        attribution=attribution or {},
    )


def test_shopify_first_and_last_visit_are_two_touches():
    first = visit("google", "google", "cpc", "brand-search", "https://www.google.com/")
    last = visit("email", "klaviyo", "email", "weekly-newsletter")
    result = journey(attribution={"first_visit": first, "last_visit": last})
    assert [a.traffic_source(t) for t in result.touches] == ["google_ads", "email"]
    assert result.touches[0].campaign == "brand-search"
    assert a.attribute(result, a.POSITION_BASED) == {"google_ads": Decimal("50.0000"), "email": Decimal("50.0000")}


def test_the_same_first_and_last_visit_is_one_touch():
    only = visit("tiktok", "tiktok", "paid_social", "cozy-corner-ugc", "https://www.tiktok.com/")
    result = journey(attribution={"first_visit": only, "last_visit": dict(only)})
    assert len(result.touches) == 1
    assert a.attribute(result, a.LINEAR) == {"tiktok_ads": Decimal("100.0000")}


def test_a_direct_visit_without_utm():
    direct = {"source": "direct", "landing_page": "https://homegoods-demo.com/", "referrer": "", "utm": {}}
    result = journey(attribution={"first_visit": direct, "last_visit": direct})
    assert [a.traffic_source(t) for t in result.touches] == ["direct"]


def test_utm_tags_in_the_landing_page_count_when_utm_is_missing():
    first = visit("facebook", landing="https://homegoods-demo.com/p?utm_source=facebook&utm_medium=paid_social")
    first["utm"] = {}
    assert a.traffic_source(journey(attribution={"first_visit": first}).touches[0]) == "meta"


def test_visit_times_feed_time_decay():
    first = {**visit("google", "google", "cpc"), "occurred_at": "2026-11-03T12:00:00Z"}  # 7 days before
    last = {**visit("email", "klaviyo", "email"), "occurred_at": "2026-11-10T12:00:00+00:00"}
    result = journey(attribution={"first_visit": first, "last_visit": last})
    assert a.touch_ages(result) == (timedelta(days=7), timedelta(0))
    assert a.attribute(result, a.TIME_DECAY, places=Decimal("0.0001")) == {
        "google_ads": Decimal("33.3333"),
        "email": Decimal("66.6667"),
    }


def test_other_stores_give_a_landing_page_and_referrer():
    result = journey(platform="woocommerce", landing_site="https://shop.test/?utm_source=google&utm_medium=cpc")
    assert [a.traffic_source(t) for t in result.touches] == ["google_ads"]
    result = journey(platform="woocommerce", referrer="https://duckduckgo.com/")
    assert [a.traffic_source(t) for t in result.touches] == ["organic_search"]


def test_an_online_order_without_any_visit_data_is_direct():
    result = journey(attribution={})
    assert result.touches == ()
    assert a.attribute(result, a.FIRST_CLICK) == {"direct": Decimal("100.0000")}


@pytest.mark.parametrize("platform", ["amazon_sp", "shopee", "tiktok_shop", "ebay"])
def test_marketplace_orders_have_no_journey(platform):
    assert journey(platform=platform, attribution={"sold_via_ad_campaign": True}) is None
