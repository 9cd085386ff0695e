"""Benchmark: the keyword tools over a big seller's search-term report.

    .venv/bin/python benchmarks/keywords.py [--rows 1000000] [--keep] [--organization SLUG]

Seeds a throwaway organization with ``--rows`` search-term fact rows over 60 days, streamed into PostgreSQL
with COPY: 50 Amazon Ads campaigns in US, UK, DE and JP (auto campaigns and manual ones with broad, phrase and
exact keywords, three ad groups each), about 200,000 distinct search terms in English, German and Japanese
drawn Zipf-like (a few terms take most of the traffic, most appear once or twice), each with its own
conversion rate. The campaigns, ad groups, keywords and a few hundred negatives are written as
``campaigns`` rows, so the keyword and negative frames come from their selectors.

Then it times the pipeline a seller's "keyword tools" page runs, each stage on the previous one's output:
load (``search_terms_frame`` over the 60 days), keywords (the keyword and negative frames), normalise (terms
tokenised once for every tool), harvest, negatives, n-grams (the full 1-3 gram table) and conflicts (the
proposed negatives against the converting terms and active keywords). Prints each stage's seconds, CPU
seconds (this process, and the database backend's when it runs on this machine) and counts, and ends with
``RESULT keyword_pipeline_s=<n> cpu_s=<n> load_average=<n> cores=<n>``: wall seconds of the stages summed, CPU
seconds summed (what the run costs whatever else the machine is doing) and the machine's load when it ended.
Everything written is deleted afterwards unless ``--keep``; ``--organization <slug>`` times one kept earlier.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from django.db import connection  # noqa: E402

from accounts.models import Organization  # noqa: E402
from campaigns import selectors  # noqa: E402
from campaigns.keywords import text  # noqa: E402
from campaigns.keywords.conflicts import find_conflicts  # noqa: E402
from campaigns.keywords.harvest import HarvestThresholds, harvest_search_terms  # noqa: E402
from campaigns.keywords.negatives import mine_negatives  # noqa: E402
from campaigns.keywords.ngrams import ngram_table  # noqa: E402
from campaigns.models import AdAccount, AdGroup, Campaign, NegativeKeyword, Target  # noqa: E402

DAYS = 60
ACCOUNTS = [  # account, marketplace, currency, language, campaigns, term pool size
    ("AMZ-US", "US", "USD", "en", 20, 115_000),
    ("AMZ-UK", "UK", "GBP", "en", 6, 35_000),
    ("AMZ-DE", "DE", "EUR", "de", 14, 72_000),
    ("AMZ-JP", "JP", "JPY", "ja", 10, 55_000),
]
SCALE = {"USD": 1.0, "GBP": 0.8, "EUR": 0.9, "JPY": 150.0}
THRESHOLDS = {
    currency: HarvestThresholds(min_bid=0.1 * scale, max_bid=4.0 * scale, default_bid=0.5 * scale)
    for currency, scale in SCALE.items()
}
AD_GROUPS = 3
KEYWORDS_PER_AD_GROUP = 12
AUTO_TARGETS = ["close-match", "loose-match", "substitutes", "complements"]
# fmt: off
WORDS = {
    "en": ["shirt", "dress", "shoe", "sock", "hat", "bag", "case", "cover", "cable", "charger", "lamp", "mug",
           "bottle", "towel", "pillow", "blanket", "chair", "desk", "phone", "iphone", "samsung", "laptop", "kids",
           "women", "men", "girls", "boys", "baby", "red", "blue", "black", "white", "green", "pink", "large",
           "small", "cotton", "leather", "wool", "waterproof", "wireless", "portable", "organic", "cheap", "free",
           "used", "best", "gift", "set", "pack", "2", "3", "xl", "usb"],
    "de": ["hemd", "kleid", "schuhe", "socken", "hut", "tasche", "hülle", "kabel", "ladegerät", "lampe", "tasse",
           "flasche", "handtuch", "kissen", "decke", "stuhl", "tisch", "handy", "damen", "herren", "kinder", "baby",
           "rot", "blau", "schwarz", "weiß", "grün", "groß", "klein", "baumwolle", "leder", "wasserdicht",
           "kabellos", "günstig", "gratis", "gebraucht", "geschenk", "set", "für", "mit", "xl", "usb"],
    "ja": ["ケース", "手帳型", "充電器", "ケーブル", "ランプ", "マグカップ", "水筒", "タオル", "枕", "毛布",
           "椅子", "机", "スマホ", "iphone", "レディース", "メンズ", "キッズ", "ベビー", "赤", "青", "黒", "白",
           "大きい", "小さい", "綿", "革", "防水", "ワイヤレス", "安い", "無料", "中古", "ギフト", "セット", "usb"],
}
SYLLABLES = {
    "en": ["ka", "lo", "ri", "ven", "tor", "mi", "sa", "bel", "do", "ra", "nu", "pex", "fin", "gal", "mor", "tek",
           "zi", "ble"],
    "de": ["ka", "lo", "ri", "ven", "tor", "mi", "sa", "bel", "do", "ra", "nu", "pex", "fin", "gal", "mor", "tek",
           "zi", "berg"],
    "ja": ["ア", "カ", "サ", "タ", "ナ", "ハ", "マ", "ヤ", "ラ", "ワ", "キ", "シ", "チ", "ニ", "ヒ", "ミ", "リ", "ー"],
}
FACT_COLUMNS = [
    "organization_id", "channel", "account_id", "marketplace", "date", "grain", "campaign_id", "campaign_name",
    "ad_group_id", "ad_group_name", "target_id", "target_text", "match_type", "search_term", "product_id",
    "impressions", "clicks", "cost", "orders", "units", "sales", "currency", "attribution_window", "source",
    "source_ref", "created_at", "updated_at",
]
# fmt: on


def copy_frame(table: str, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False)
    buffer.seek(0)
    columns = ", ".join(frame.columns)
    statement = f"COPY {table} ({columns}) FROM STDIN (FORMAT csv, NULL '\\N')"  # '' stays an empty string
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        while chunk := buffer.read(1 << 20):
            copy.write(chunk)


def zipf_choice(rng: np.random.Generator, size: int, count: int, exponent: float = 0.9) -> np.ndarray:
    weights = 1.0 / np.power(np.arange(1, size + 1) + 5.0, exponent)
    return rng.choice(size, count, p=weights / weights.sum())


def term_pool(rng: np.random.Generator, language: str, size: int) -> np.ndarray:
    """``size`` distinct search terms: real product words and made-up brand words, 1 to 5 words long."""
    syllables = SYLLABLES[language]
    brands = {
        "".join(rng.choice(syllables, rng.integers(2, 4))) + ("s" if language != "ja" and rng.random() < 0.3 else "")
        for _ in range(6000)
    }
    vocabulary = np.array(WORDS[language] + sorted(brands), dtype=object)
    terms: set[str] = set()
    while len(terms) < size:
        batch = size - len(terms) + 1000
        lengths = rng.choice([1, 2, 3, 4, 5], batch, p=[0.08, 0.32, 0.32, 0.18, 0.10])
        words = vocabulary[zipf_choice(rng, len(vocabulary), int(lengths.sum()), 0.7)]
        position = 0
        for length in lengths:
            chosen = words[position : position + length]
            position += length
            joiner = "" if language == "ja" and rng.random() < 0.4 else " "
            terms.add(joiner.join(chosen))
    return np.array(sorted(terms)[:size], dtype=object)


def seed(organization: Organization, rows: int, end, seed_value: int = 7) -> dict:
    """Campaign rows and ``rows`` search-term facts; returns what the pipeline needs to know about them."""
    rng = np.random.default_rng(seed_value)
    days = pd.date_range(end=end, periods=DAYS, freq="D").date
    now = pd.Timestamp.now(tz="UTC").isoformat()
    per_account_rows = np.array([count for *_, count, _pool in ACCOUNTS], dtype=float)
    per_account_rows = np.round(rows * per_account_rows / per_account_rows.sum()).astype(int)
    written = keywords = negatives = 0
    distinct = 0
    for (account, marketplace, currency, language, count, pool_size), account_rows in zip(
        ACCOUNTS, per_account_rows, strict=True
    ):
        pool = term_pool(rng, language, pool_size)
        quality = rng.beta(0.6, 9.0, pool_size)  # each term's conversion rate
        ad_account = AdAccount.unscoped_objects.create(
            organization=organization,
            channel="amazon_ads",
            external_id=account,
            name=account,
            marketplace=marketplace,
            currency=currency,
        )
        targets = []  # (campaign_id, campaign_name, ad_group_id, target_id, text, match_type)
        for number in range(count):
            auto = number % 3 == 0
            campaign_id = f"{account}-C{number:02d}"
            name = f"{marketplace} {'Auto' if auto else 'Manual'} {number:02d}"
            campaign = Campaign.unscoped_objects.create(
                organization=organization, ad_account=ad_account, external_id=campaign_id, name=name, state="enabled"
            )
            for group in range(AD_GROUPS):
                ad_group_id = f"{campaign_id}-AG{group}"
                ad_group = AdGroup.unscoped_objects.create(
                    organization=organization, campaign=campaign, external_id=ad_group_id, name=f"Group {group}"
                )
                if auto:
                    for k, expression in enumerate(AUTO_TARGETS):
                        targets.append(
                            (
                                campaign_id,
                                name,
                                ad_group_id,
                                f"{ad_group_id}-T{k}",
                                expression,
                                "TARGETING_EXPRESSION_PREDEFINED",
                            )
                        )
                    continue
                chosen = pool[zipf_choice(rng, pool_size, KEYWORDS_PER_AD_GROUP)]
                match_types = rng.choice(["BROAD", "PHRASE", "EXACT"], KEYWORDS_PER_AD_GROUP)
                objs = []
                for k, (keyword, match_type) in enumerate(zip(chosen, match_types, strict=True)):
                    target_id = f"{ad_group_id}-T{k}"
                    targets.append((campaign_id, name, ad_group_id, target_id, keyword, match_type))
                    objs.append(
                        Target(
                            organization=organization,
                            ad_group=ad_group,
                            external_id=target_id,
                            text=keyword,
                            match_type=match_type,
                            bid=0.8 * SCALE[currency],
                            state="enabled",
                        )
                    )
                Target.unscoped_objects.bulk_create(objs)
                keywords += len(objs)
            negative_terms = pool[rng.choice(pool_size, 8, replace=False)]
            NegativeKeyword.unscoped_objects.bulk_create(
                [
                    NegativeKeyword(
                        organization=organization,
                        campaign=campaign,
                        external_id=f"{campaign_id}-N{k}",
                        text=term,
                        match_type="NEGATIVE_EXACT" if k % 2 else "NEGATIVE_PHRASE",
                        state="enabled",
                    )
                    for k, term in enumerate(negative_terms)
                ]
            )
            negatives += len(negative_terms)
        target_table = pd.DataFrame(
            targets, columns=["campaign_id", "campaign_name", "ad_group_id", "target_id", "target_text", "match_type"]
        )
        # each row: a term (Zipf), a campaign (uniform), a target fixed by the term within the campaign, a day
        draw = int(account_rows * 1.15)
        term = zipf_choice(rng, pool_size, draw)
        campaign = rng.integers(0, count, draw)
        per_campaign = target_table.groupby("campaign_id", sort=True).indices
        campaign_ids = sorted(per_campaign)
        offsets = np.array([per_campaign[c_id][0] for c_id in campaign_ids])
        sizes = np.array([len(per_campaign[c_id]) for c_id in campaign_ids])
        target = offsets[campaign] + (term * 7 + rng.integers(0, 2, draw)) % sizes[campaign]
        day = rng.integers(0, DAYS, draw)
        keys = pd.DataFrame({"target": target, "term": term, "day": day}).drop_duplicates()
        keys = keys.iloc[:account_rows]
        n = len(keys)
        target, term, day = (keys[column].to_numpy() for column in ("target", "term", "day"))
        impressions = rng.poisson(25, n) + 1
        clicks = rng.binomial(impressions, 0.06)
        orders = rng.binomial(clicks, quality[term])
        cpc = rng.uniform(0.3, 1.6, n) * SCALE[currency]
        price = rng.choice([19.99, 24.99, 39.0], n) * SCALE[currency]
        chosen_targets = target_table.iloc[target]
        frame = pd.DataFrame(
            {
                "organization_id": organization.pk,
                "channel": "amazon_ads",
                "account_id": account,
                "marketplace": marketplace,
                "date": np.asarray(days)[day],
                "grain": "search_term",
                "campaign_id": chosen_targets["campaign_id"].to_numpy(),
                "campaign_name": chosen_targets["campaign_name"].to_numpy(),
                "ad_group_id": chosen_targets["ad_group_id"].to_numpy(),
                "ad_group_name": "",
                "target_id": chosen_targets["target_id"].to_numpy(),
                "target_text": chosen_targets["target_text"].to_numpy(),
                "match_type": chosen_targets["match_type"].to_numpy(),
                "search_term": pool[term],
                "product_id": "",
                "impressions": impressions,
                "clicks": clicks,
                "cost": np.round(clicks * cpc, 4),
                "orders": orders,
                "units": orders,
                "sales": np.round(orders * price, 4),
                "currency": currency,
                "attribution_window": "7d",
                "source": "api",
                "source_ref": 800_000,
                "created_at": now,
                "updated_at": now,
            },
            columns=FACT_COLUMNS,
        )
        for start in range(0, n, 250_000):
            copy_frame("analytics_adperformancedaily", frame.iloc[start : start + 250_000])
        written += n
        distinct += len(np.unique(term))
    return {"rows": written, "distinct_terms": distinct, "keywords": keywords, "negatives": negatives}


def database_cpu_seconds() -> float | None:
    """CPU seconds used so far by this connection's PostgreSQL backend, when it runs on this machine: the
    machine may be shared, and CPU time (ours plus the database's) shows the cost whatever the load."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    proc = Path(f"/proc/{pid}")
    try:
        if proc.joinpath("comm").read_text().strip() != "postgres":
            return None
        fields = proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run_pipeline(organization: Organization, start, end) -> tuple[float, float | None]:
    """Time each stage on the previous one's output and print them. Returns (wall seconds, CPU seconds of this
    process and of the database backend, None when the backend's CPU cannot be read)."""
    stages: dict[str, tuple[float, float, float | None]] = {}

    def timed(stage, function):
        database = database_cpu_seconds()
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = database_cpu_seconds()
        stages[stage] = (wall, cpu, None if database is None or after is None else after - database)
        return result

    def line(stage, detail):
        wall, cpu, database = stages[stage]
        used = f"python cpu {cpu:.2f} s" + ("" if database is None else f", database cpu {database:.2f} s")
        print(f"{stage}: {wall:.2f} s ({used}), {detail}", flush=True)

    terms = timed("load", lambda: selectors.search_terms_frame(organization=organization, start=start, end=end))
    line("load", f"{len(terms):,} frame rows")
    keywords = timed("keywords", lambda: selectors.keywords_frame(organization=organization))
    negatives = selectors.negatives_frame(organization=organization)
    line("keywords", f"{len(keywords):,} keywords, {len(negatives):,} negatives")
    terms = timed("normalise", lambda: text.annotate(terms))
    line("normalise", f"{terms['term_code'].nunique():,} distinct terms")
    harvest = timed(
        "harvest",
        lambda: harvest_search_terms(terms=terms, keywords=keywords, thresholds=THRESHOLDS, negatives=negatives),
    )
    counts = harvest["kind"].value_counts()
    line("harvest", f"{counts.get('keyword', 0):,} keywords and {counts.get('negative', 0):,} negatives proposed")
    proposed = timed("negatives", lambda: mine_negatives(terms=terms, min_clicks=10, negatives=negatives))
    types = proposed["match_type"].value_counts()
    line(
        "negatives",
        f"{types.get('NEGATIVE_EXACT', 0):,} exact and {types.get('NEGATIVE_PHRASE', 0):,} phrase proposed",
    )
    grams = timed("ngrams", lambda: ngram_table(terms=terms))
    line("ngrams", f"{len(grams):,} grams")
    conflicts = timed("conflicts", lambda: find_conflicts(negatives=proposed, terms=terms, keywords=keywords))
    blocking = conflicts["negative_text"].nunique() if len(conflicts) else 0
    line("conflicts", f"{len(conflicts):,} conflicts ({blocking:,} proposed negatives would block something)")
    wall = sum(wall for wall, _cpu, _database in stages.values())
    databases = [database for _wall, _cpu, database in stages.values()]
    if any(database is None for database in databases):
        return wall, None
    return wall, sum(cpu for _wall, cpu, _database in stages.values()) + sum(databases)


def result_line(wall: float, cpu: float | None) -> str:
    load = os.getloadavg()[0]
    cpu_part = "" if cpu is None else f" cpu_s={cpu:.2f}"
    return f"RESULT keyword_pipeline_s={wall:.2f}{cpu_part} load_average={load:.1f} cores={os.cpu_count()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the seeded organization")
    parser.add_argument("--organization", help="time an organization seeded earlier with --keep (its slug)")
    args = parser.parse_args()
    end = datetime.now(UTC).date()
    start = end - timedelta(days=DAYS - 1)
    if args.organization:
        organization = Organization.objects.get(slug=args.organization)
        print(result_line(*run_pipeline(organization, start, end)))
        return
    suffix = uuid.uuid4().hex[:8]
    organization = Organization.objects.create(name="Bench keywords", slug=f"bench-kw-{suffix}", home_currency="USD")
    try:
        started = time.perf_counter()
        seeded = seed(organization, args.rows, end)
        print(
            f"seeded {seeded['rows']:,} search-term fact rows ({seeded['distinct_terms']:,} distinct terms, "
            f"{seeded['keywords']:,} keywords, {seeded['negatives']:,} negatives) for {organization.slug} "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        with connection.cursor() as cursor:  # a report table at rest: statistics and visibility up to date
            cursor.execute("VACUUM ANALYZE analytics_adperformancedaily")
        print(result_line(*run_pipeline(organization, start, end)))
    finally:
        if not args.keep:
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM analytics_adperformancedaily WHERE organization_id = %s", [organization.pk])
            organization.delete()


if __name__ == "__main__":
    main()
