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
})();
