"""DataFrame -> Plotly figure, as plain dicts (``{"data": [...], "layout": {...}}``).

Pure functions: no database, no request, no translation lookups (callers pass the words a chart shows), so
they are tested on hand-built frames. Plain dicts cost about a millisecond per figure where
``plotly.graph_objects`` + ``to_json()`` costs ~8 ms; ``static/js/app.js`` draws them with the vendored
plotly.js. Missing values (NaN) become ``None`` (JSON null), which Plotly draws as a gap.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pandas as pd

COLORS = {
    "spend": "#e4572e",
    "ad_sales": "#0f766e",
    "total_sales": "#3538cd",
    "tacos": "#b54708",
    "no_rate": "#b42318",
}
SERIES_COLORS = ["#0f766e", "#3538cd", "#e4572e", "#b54708", "#7a5af8", "#0086c9", "#c11574", "#4e5ba6", "#66c61c"]
PROVISIONAL_FILL = "rgba(245, 158, 11, 0.13)"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "PingFang SC", "Noto Sans CJK SC", sans-serif'
CONFIG = {"displayModeBar": False, "responsive": True}


def _values(series: pd.Series) -> list:
    return [None if isinstance(v, float) and math.isnan(v) else v for v in series.tolist()]


def _days(series: pd.Series) -> list[str]:
    return [pd.Timestamp(day).strftime("%Y-%m-%d") for day in series]


def _layout(**extra) -> dict:
    layout = {
        "margin": {"l": 56, "r": 16, "t": 24, "b": 36},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": FONT, "size": 12, "color": "#1c2430"},
        "legend": {"orientation": "h", "x": 0, "y": -0.15, "yanchor": "top"},
        "xaxis": {"showgrid": False, "linecolor": "#e3e7ec"},
        "yaxis": {"gridcolor": "#e3e7ec", "zeroline": False, "rangemode": "tozero"},
        "hoverlabel": {"namelength": -1},
    }
    layout.update(extra)
    return layout


def _bargap(categories: int) -> float:
    """Wide gaps when there are few bars, so one channel is not one wall of colour."""
    return 0.3 if categories > 3 else 0.55 if categories > 1 else 0.7


def hover_format(kind: str, currency: str = "") -> str:
    """The d3 format of a metric's value in a hover label."""
    if kind == "money":
        return f"%{{y:,.2f}} {currency}".rstrip()
    if kind == "ratio":
        return "%{y:.1%}"
    if kind == "multiple":
        return "%{y:.2f}x"
    return "%{y:,d}"


def figure(data: list[dict], layout: dict) -> dict:
    return {"data": data, "layout": layout, "config": CONFIG}


def trend_figure(
    frame: pd.DataFrame,
    *,
    currency: str,
    names: dict[str, str],
    previous_suffix: str,
    provisional_label: str,
    no_rate_label: str,
    day_format: str = "%-d %b",
) -> dict:
    """Daily spend, ad sales and total sales as lines; the comparison period as dotted lines on the same days
    (previous ad sales starts hidden, one click in the legend away); provisional days shaded; days with amounts
    that had no FX rate marked on the axis.

    ``frame``: ``trend_frame`` output; ``names``: metric key -> legend name; ``day_format``: d3 time format of
    the days on the axis, in the reader's language."""
    x = _days(frame["day"])
    data = []
    for key in ("spend", "ad_sales", "total_sales"):
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": names[key],
                "x": x,
                "y": _values(frame[key]),
                "line": {"color": COLORS[key], "width": 2.2},
                "hovertemplate": hover_format("money", currency) + "<extra>" + names[key] + "</extra>",
            }
        )
    for key in ("spend", "ad_sales", "total_sales"):
        column = frame[f"previous_{key}"]
        if not column.notna().any():
            continue
        name = f"{names[key]} ({previous_suffix})"
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": name,
                "x": x,
                "y": _values(column),
                "line": {"color": COLORS[key], "width": 1.4, "dash": "dot"},
                "opacity": 0.7,
                "hovertemplate": hover_format("money", currency) + "<extra>" + name + "</extra>",
                **({"visible": "legendonly"} if key == "ad_sales" else {}),
            }
        )
    no_rate = frame[frame["no_rate"]]
    if len(no_rate):
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": no_rate_label,
                "x": _days(no_rate["day"]),
                "y": [0] * len(no_rate),
                "marker": {"symbol": "x", "size": 9, "color": COLORS["no_rate"]},
                "hovertemplate": no_rate_label + "<extra></extra>",
            }
        )
    shapes, annotations = [], []
    provisional = frame[frame["provisional"]]
    if len(provisional):
        half = timedelta(hours=12)
        first, last = pd.Timestamp(provisional["day"].min()), pd.Timestamp(frame["day"].max())
        x0 = (first - half).strftime("%Y-%m-%d %H:%M")
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "x0": x0,
                "x1": (last + half).strftime("%Y-%m-%d %H:%M"),
                "y0": 0,
                "y1": 1,
                "fillcolor": PROVISIONAL_FILL,
                "line": {"width": 0},
                "layer": "below",
            }
        )
        annotations.append(
            {
                "x": x0,
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "xanchor": "left",
                "yanchor": "bottom",
                "text": provisional_label,
                "showarrow": False,
                "font": {"size": 11, "color": "#b54708"},
            }
        )
    layout = _layout(hovermode="x unified", shapes=shapes, annotations=annotations)
    layout["xaxis"] = {**layout["xaxis"], "tickformat": day_format, "hoverformat": day_format}
    layout["yaxis"] = {**layout["yaxis"], "tickformat": "~s"}
    return figure(data, layout)


def share_figure(frame: pd.DataFrame, *, key: str, currency: str) -> dict:
    """A donut of ``key`` per ``label`` (the channel mix)."""
    shown = frame[frame[key].fillna(0) > 0]
    total = float(shown[key].sum()) or 1.0
    # a percentage inside each slice big enough to hold it; the hover has them all
    text = [f"{value / total:.0%}" if value / total >= 0.05 else "" for value in shown[key].tolist()]
    return figure(
        [
            {
                "type": "pie",
                "labels": shown["label"].tolist(),
                "values": _values(shown[key]),
                "hole": 0.58,
                "sort": False,
                "direction": "clockwise",
                "marker": {"colors": SERIES_COLORS[: len(shown)], "line": {"color": "#fff", "width": 2}},
                "text": text,
                "textinfo": "text",
                "textposition": "inside",
                "insidetextorientation": "horizontal",
                "hovertemplate": "%{label}<br>%{value:,.2f} " + currency + " · %{percent}<extra></extra>",
            }
        ],
        _layout(margin={"l": 8, "r": 8, "t": 8, "b": 8}, showlegend=True, legend={"orientation": "v", "x": 1.02}),
    )


def bars_figure(
    frame: pd.DataFrame,
    *,
    series: list[tuple[str, str]],
    kind: str,
    currency: str = "",
    previous_name: str | None = None,
) -> dict:
    """Grouped bars per ``label``: one bar series per (column, name) in ``series``; with ``previous_name``,
    the first series' comparison period (``previous_<column>``) as a lighter bar beside it."""
    labels = frame["label"].tolist()
    data = []
    for index, (column, name) in enumerate(series):
        color = COLORS.get(column, SERIES_COLORS[index % len(SERIES_COLORS)])
        data.append(
            {
                "type": "bar",
                "name": name,
                "x": labels,
                "y": _values(frame[column]),
                "marker": {"color": color},
                "hovertemplate": hover_format(kind, currency) + "<extra>" + name + "</extra>",
            }
        )
        if index == 0 and previous_name and frame[f"previous_{column}"].notna().any():
            data.append(
                {
                    "type": "bar",
                    "name": previous_name,
                    "x": labels,
                    "y": _values(frame[f"previous_{column}"]),
                    "marker": {"color": color, "opacity": 0.35},
                    "hovertemplate": hover_format(kind, currency) + "<extra>" + previous_name + "</extra>",
                }
            )
    layout = _layout(barmode="group", bargap=_bargap(len(labels)), hovermode="x unified")
    if kind == "ratio":
        layout["yaxis"] = {**layout["yaxis"], "tickformat": ".0%"}
    elif kind == "money":
        layout["yaxis"] = {**layout["yaxis"], "tickformat": "~s"}
    return figure(data, layout)


def marketplace_figure(frame: pd.DataFrame, *, currency: str, names: dict[str, str]) -> dict:
    """Ad spend and total sales per marketplace as bars, TACoS as dots on a second (percent) axis."""
    labels = [label.replace(" (", "<br>(") for label in frame["label"].tolist()]  # "shop<br>(Shopify)"
    data = [
        {
            "type": "bar",
            "name": names[key],
            "x": labels,
            "y": _values(frame[key]),
            "marker": {"color": COLORS[key]},
            "hovertemplate": hover_format("money", currency) + "<extra>" + names[key] + "</extra>",
        }
        for key in ("spend", "total_sales")
    ]
    data.append(
        {
            "type": "scatter",
            "mode": "markers",
            "name": names["tacos"],
            "x": labels,
            "y": _values(frame["tacos"]),
            "yaxis": "y2",
            "marker": {"color": COLORS["tacos"], "size": 10, "symbol": "diamond"},
            "hovertemplate": "%{y:.1%}<extra>" + names["tacos"] + "</extra>",
        }
    )
    layout = _layout(barmode="group", bargap=_bargap(len(labels)), hovermode="x unified")
    layout["xaxis"] = {**layout["xaxis"], "tickangle": 0, "automargin": True}
    layout["legend"] = {**layout["legend"], "y": -0.25}  # below two-line marketplace names
    layout["yaxis"] = {**layout["yaxis"], "tickformat": "~s"}
    layout["yaxis2"] = {
        "overlaying": "y",
        "side": "right",
        "tickformat": ".0%",
        "showgrid": False,
        "rangemode": "tozero",
    }
    layout["margin"] = {**layout["margin"], "r": 48}
    return figure(data, layout)
