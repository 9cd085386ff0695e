// Small glue around htmx: show a message when the server cannot be reached, close menus on outside click.
(function () {
  "use strict";

  function showMessage(text) {
    var box = document.getElementById("messages");
    if (!box) return;
    var div = document.createElement("div");
    div.className = "alert alert-error";
    div.setAttribute("role", "alert");
    div.textContent = text;
    box.appendChild(div);
  }

  document.addEventListener("htmx:sendError", function () {
    showMessage(document.documentElement.lang === "zh-hans"
      ? "无法连接服务器，请检查网络后重试。"
      : "Could not reach the server. Check your connection and try again.");
  });

  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });

  // Dashboard charts: each <div data-chart="ID"> is drawn from the JSON in <script id="ID"
  // type="application/json"> (a figure dict from analytics/charts.py) with the vendored plotly.js, which only
  // dashboard pages load. Runs on page load and on every piece of content htmx swaps in (lazy panels).
  function drawCharts(root) {
    if (!window.Plotly || !root || !root.querySelectorAll) return;
    var boxes = Array.prototype.slice.call(root.querySelectorAll("[data-chart]"));
    if (root.matches && root.matches("[data-chart]")) boxes.push(root);
    boxes.forEach(function (box) {
      if (box.dataset.chartReady) return;
      var source = document.getElementById(box.dataset.chart);
      if (!source) return;
      var figure = JSON.parse(source.textContent);
      box.dataset.chartReady = "1";
      window.Plotly.newPlot(box, figure.data, figure.layout, figure.config || { displayModeBar: false, responsive: true });
    });
  }

  document.addEventListener("htmx:load", function (event) { drawCharts(event.target); });
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:beforeSwap", function (event) {
    // Free Plotly's listeners of charts about to be replaced.
    if (!window.Plotly || !event.detail.target) return;
    event.detail.target.querySelectorAll("[data-chart-ready]").forEach(function (box) { window.Plotly.purge(box); });
  });

  // Dashboard filter bar: typing a date switches the range to "custom"; a preset range sends no dates and
  // default choices are not sent, so the URL (which is the view, for bookmarks and sharing) stays short.
  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form.filter-bar");
    if (!form || (event.target.name !== "start" && event.target.name !== "end")) return;
    var range = form.querySelector("select[name=range]");
    if (range) range.value = "custom";
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form.filter-bar")) return;
    var range = form.querySelector("select[name=range]");
    if (range && range.value !== "custom") {
      form.querySelectorAll("input[name=start], input[name=end]").forEach(function (input) { input.disabled = true; });
    }
    form.querySelectorAll("[data-default]").forEach(function (field) {
      if (field.value === field.dataset.default) field.disabled = true;
    });
  });
  window.addEventListener("pageshow", function () {  // coming Back to a page kept in the back-forward cache
    document.querySelectorAll("form.filter-bar :disabled").forEach(function (field) { field.disabled = false; });
  });
})();
