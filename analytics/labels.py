"""How channels, publishers and sales platforms are named on screen."""

from django.utils.translation import gettext_lazy as _

CHANNELS = {
    "amazon_ads": _("Amazon Ads"),
    "google_ads": _("Google Ads"),
    "meta": _("Meta"),
    "tiktok_ads": _("TikTok Ads"),
    "shopee_ads": _("Shopee Ads"),
    "ebay_pl": _("eBay Promoted Listings"),
}
PUBLISHERS = {
    "facebook": _("Facebook"),
    "instagram": _("Instagram"),
    "audience_network": _("Audience Network"),
    "messenger": _("Messenger"),
    "threads": _("Threads"),
}
PLATFORMS = {
    "amazon_sp": _("Amazon"),
    "shopify": _("Shopify"),
    "shopee": _("Shopee"),
    "tiktok_shop": _("TikTok Shop"),
    "ebay": _("eBay"),
}


def channel_label(channel: str, publisher: str = "") -> str:
    name = str(CHANNELS.get(channel, channel))
    if publisher:
        return f"{name} · {PUBLISHERS.get(publisher, publisher)}"
    return name


def platform_label(platform: str) -> str:
    return str(PLATFORMS.get(platform, platform))
