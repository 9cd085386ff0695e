"""Search-term themes: exact groups on small sets, CJK, metrics and ratios, the large-set path and its speed."""

from __future__ import annotations

import logging
import math
import random
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from campaigns.keywords import cluster
from campaigns.keywords.cluster import UNCLUSTERED, assign_clusters, cluster_terms

TERMS = [
    "wireless earbuds",
    "earbuds wireless",
    "wireless earbud",
    "bluetooth earbuds",
    "yoga mat",
    "yoga mat thick",
    "non slip yoga mat",
    "phone case",
]
FAMILIES = ["yoga mat", "phone case", "dog toy", "desk lamp", "water bottle", "usb cable"]
MODIFIERS = ["black", "white", "large", "small", "for kids", "for women", "pack", "thick", "portable", "led", "steel"]


def themes(frame: pd.DataFrame) -> list[tuple]:
    return [(row.cluster_id, row.label, row.terms) for row in frame.itertuples(index=False)]


def synthetic_terms(count: int, *, seed: int) -> list[str]:
    """Product families with shared modifiers in varying order, some with a size number."""
    rng = random.Random(seed)
    terms: set[str] = set()
    while len(terms) < count:
        modifiers = rng.sample(MODIFIERS, rng.randint(1, 4))
        cut = rng.randint(0, len(modifiers))
        words = [*modifiers[:cut], rng.choice(FAMILIES), *modifiers[cut:]]
        terms.add(" ".join(words) + (f" {rng.randint(2, 999)}" if rng.random() < 0.6 else ""))
    return sorted(terms)


def test_small_set_forms_exact_themes():
    result = cluster_terms(terms=TERMS)

    assert themes(result) == [
        (0, "earbuds wireless", ["earbuds wireless", "wireless earbud", "wireless earbuds"]),
        (1, "yoga mat", ["non slip yoga mat", "yoga mat", "yoga mat thick"]),
        (UNCLUSTERED, "", ["bluetooth earbuds", "phone case"]),
    ]
    assert result["n_terms"].tolist() == [3, 3, 2]


def test_higher_similarity_threshold_makes_tighter_themes():
    result = cluster_terms(terms=TERMS, min_similarity=0.9)

    # only the reordered pair has (almost) the same character n-grams
    assert themes(result) == [
        (0, "earbuds wireless", ["earbuds wireless", "wireless earbuds"]),
        (
            UNCLUSTERED,
            "",
            ["bluetooth earbuds", "non slip yoga mat", "phone case", "wireless earbud", "yoga mat", "yoga mat thick"],
        ),
    ]


def test_max_clusters_keeps_the_main_themes_and_moves_the_rest_to_unclustered():
    result = cluster_terms(terms=TERMS, max_clusters=1)

    assert themes(result) == [
        (0, "earbuds wireless", ["earbuds wireless", "wireless earbud", "wireless earbuds"]),
        (UNCLUSTERED, "", ["bluetooth earbuds", "non slip yoga mat", "phone case", "yoga mat", "yoga mat thick"]),
    ]


def test_metrics_are_summed_per_normalised_term_and_theme():
    frame = pd.DataFrame(
        {
            "search_term": [
                "Wireless Earbuds",
                "wireless  earbuds",
                "earbuds wireless",
                "yoga mat",
                "yoga mats",
                "phone case",
            ],
            "impressions": [100, 50, 30, 40, 10, 5],
            "clicks": [10, 5, 3, 4, 0, 1],
            "cost": [5.0, 2.5, 1.0, 2.0, 0.0, 0.3],
            "orders": [1, 1, 0, 0, 0, 0],
            "sales": [20.0, 20.0, 0.0, 0.0, 0.0, 0.0],
        }
    )

    terms = assign_clusters(terms=frame)
    result = cluster_terms(terms=frame)

    # "Wireless Earbuds" and "wireless  earbuds" are one term; the term with orders labels its theme
    assert terms[["search_term", "cluster_id", "label", "clicks", "orders"]].to_dict("records") == [
        {"search_term": "wireless earbuds", "cluster_id": 0, "label": "wireless earbuds", "clicks": 15, "orders": 2},
        {"search_term": "earbuds wireless", "cluster_id": 0, "label": "wireless earbuds", "clicks": 3, "orders": 0},
        {"search_term": "yoga mat", "cluster_id": 1, "label": "yoga mat", "clicks": 4, "orders": 0},
        {"search_term": "yoga mats", "cluster_id": 1, "label": "yoga mat", "clicks": 0, "orders": 0},
        {"search_term": "phone case", "cluster_id": -1, "label": "", "clicks": 1, "orders": 0},
    ]
    records = result.drop(columns="terms").to_dict("records")
    assert records[0] == {
        "cluster_id": 0,
        "label": "wireless earbuds",
        "n_terms": 2,
        "impressions": 180,
        "clicks": 18,
        "cost": 8.5,
        "orders": 2,
        "sales": 40.0,
        "ctr": 0.1,
        "cpc": 0.4722,
        "cvr": 0.1111,
        "acos": 0.2125,
        "roas": 4.7059,
    }
    # no sales: ACoS is undefined, not zero
    assert math.isnan(records[1]["acos"]) and records[1]["roas"] == 0.0
    assert (records[2]["cluster_id"], records[2]["n_terms"], records[2]["clicks"]) == (UNCLUSTERED, 1, 1)


def test_chinese_and_japanese_terms_group_without_a_segmenter():
    terms = [
        "蓝牙耳机",
        "无线蓝牙耳机",
        "蓝牙耳机 运动",
        "瑜伽垫",
        "加厚瑜伽垫",
        "ワイヤレスイヤホン",
        "イヤホン ワイヤレス",
        "ヨガマット",
    ]

    assert themes(cluster_terms(terms=terms)) == [
        (0, "蓝牙耳机", ["无线蓝牙耳机", "蓝牙耳机", "蓝牙耳机 运动"]),
        (1, "イヤホン ワイヤレス", ["イヤホン ワイヤレス", "ワイヤレスイヤホン"]),
        (2, "加厚瑜伽垫", ["加厚瑜伽垫", "瑜伽垫"]),
        (UNCLUSTERED, "", ["ヨガマット"]),
    ]


def test_result_does_not_depend_on_input_order():
    shuffled = TERMS[::-1]

    pd.testing.assert_frame_equal(cluster_terms(terms=shuffled), cluster_terms(terms=TERMS))


def test_edge_cases():
    empty = cluster_terms(terms=[])
    single = cluster_terms(terms=["  Yoga Mat "])

    assert empty.empty
    assert list(empty.columns) == ["cluster_id", "label", "n_terms", "terms"]
    assert themes(single) == [(UNCLUSTERED, "", ["yoga mat"])]
    with pytest.raises(ValueError, match="search_term"):
        cluster_terms(terms=pd.DataFrame({"keyword": ["x"]}))
    with pytest.raises(ValueError, match="min_similarity"):
        cluster_terms(terms=TERMS, min_similarity=1.5)


def test_large_sets_use_kmeans_and_keep_themes_coherent():
    terms = synthetic_terms(3000, seed=1)

    result = assign_clusters(terms=terms)

    themed = result[result["cluster_id"] != UNCLUSTERED].copy()
    themed["family"] = [next(f for f in FAMILIES if f in term) for term in themed["search_term"]]
    # k = round(sqrt(3000 / 2)) = 39 groups before incoherent members leave
    assert result["cluster_id"].max() + 1 <= 39
    assert len(themed) >= 0.95 * len(terms)
    majority = themed.groupby("cluster_id")["family"].agg(lambda f: f.value_counts().iloc[0]).sum()
    assert majority / len(themed) >= 0.98
    assert (themed["similarity"] >= 0.3).all()
    # the same seed gives the same themes
    pd.testing.assert_frame_equal(assign_clusters(terms=terms), result)


def test_fifty_thousand_terms_cluster_in_under_five_seconds():
    terms = synthetic_terms(50_000, seed=2)
    frame = pd.DataFrame(
        {
            "search_term": terms,
            "clicks": np.arange(50_000) % 50,
            "cost": (np.arange(50_000) % 7) * 0.5,
        }
    )

    started = time.process_time()  # CPU time: other processes on a shared host do not count
    result = cluster_terms(terms=frame)
    elapsed = time.process_time() - started

    assert elapsed < 5.0, f"{elapsed:.2f} CPU seconds"
    assert int(result["n_terms"].sum()) == 50_000
    assert len(result) > 50


def test_sentence_embeddings_path_when_the_model_is_installed(monkeypatch):
    # Given an encoder that puts synonyms together (as the MiniLM model does)
    vectors = {"sofa": [1.0, 0.0], "couch": [0.99, 0.05], "yoga mat": [0.0, 1.0], "exercise mat": [0.05, 0.99]}

    class Encoder:
        def encode(self, texts, **options):
            assert options["normalize_embeddings"] is True
            return np.array([vectors[t] for t in texts])

    monkeypatch.setattr(cluster, "embeddings_available", lambda: True)
    monkeypatch.setattr(cluster, "_load_encoder", lambda: Encoder())

    result = cluster_terms(terms=list(vectors), use_embeddings=True)

    assert themes(result) == [(0, "couch", ["couch", "sofa"]), (1, "exercise mat", ["exercise mat", "yoga mat"])]


def test_sentence_embeddings_fall_back_to_ngrams_when_not_installed(monkeypatch, caplog):
    monkeypatch.setattr(cluster, "embeddings_available", lambda: False)

    with caplog.at_level(logging.WARNING, logger="campaigns.keywords.cluster"):
        result = cluster_terms(terms=TERMS, use_embeddings=True)

    pd.testing.assert_frame_equal(result, cluster_terms(terms=TERMS))
    assert "clustering by character n-grams instead" in caplog.text


def test_word_level_ngram_counting_equals_the_plain_char_wb_vectorizer():
    terms = [cluster.normalize_term(t) for t in [*TERMS, "usb c cable 2m", "cable usb c"]]

    fast = cluster._tfidf(terms)
    plain = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), lowercase=False, sublinear_tf=True).fit_transform(
        terms
    )

    # the same vectors up to column order, so the same cosine similarities
    np.testing.assert_allclose((fast @ fast.T).toarray(), (plain @ plain.T).toarray(), atol=1e-6)
