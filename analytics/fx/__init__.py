"""FX for Chuhai: amounts stay in the platform's currency and are converted to the organization's home
currency when read, each conversion naming the rate and the date it used.

- ``ecb``: client and parser for the ECB euro reference rates XML feeds.
- ``services``: the writes (``fx_rates_refresh`` from the ECB, ``fx_rates_import_csv`` from staff).
- ``selectors``: the reads (``convert`` one amount, ``rates_frame`` for a date range).
"""

from analytics.fx import ecb
from analytics.fx.selectors import Converted, FxRateMissing, RateLeg, convert, rates_frame
from analytics.fx.services import FxRateImportError, fx_rates_import_csv, fx_rates_refresh

__all__ = [
    "Converted",
    "FxRateImportError",
    "FxRateMissing",
    "RateLeg",
    "convert",
    "ecb",
    "fx_rates_import_csv",
    "fx_rates_refresh",
    "rates_frame",
]
