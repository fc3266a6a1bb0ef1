// Ticket search: one Pagefind index per day, merged in the browser for the chosen range.
(function () {
  "use strict";
  var script = document.currentScript;
  var base = (script && script.getAttribute("data-base")) || "/";
  var ID = /^[A-Z]{2,4}[0-9]{14}$/;

  function lookup() {
    var value = document.getElementById("shoufa-id").value.trim().toUpperCase();
    if (ID.test(value)) {
      window.location.href = base + "tickets/" + value + "/";
    } else {
      window.alert("工单编号格式应为两到四个字母加14位数字，例如 LY20261128000123");
    }
  }

  var mounted = null;  // the range the box searches now
  // Pagefind's box waits for ever when one of its own requests failed (a dropped
  // connection): a search without an answer after this long says so.
  var STALL_MS = 12000;
  var stallTimer = null;

  function watchStall(el) {
    el.addEventListener("input", function (e) {
      if (!e.target.classList || !e.target.classList.contains("pagefind-ui__search-input")) { return; }
      clearTimeout(stallTimer);
      var old = document.getElementById("shoufa-stalled");
      if (old) { old.remove(); }
      if (!e.target.value.trim()) { return; }
      stallTimer = setTimeout(function () {
        var msg = el.querySelector(".pagefind-ui__message");
        // Every answer (results or none) says 找到; the searching state does not.
        if (msg && msg.textContent.indexOf("找到") >= 0) { return; }
        var note = document.createElement("p");
        note.id = "shoufa-stalled";
        note.setAttribute("role", "status");
        note.textContent = "搜索没有响应，请刷新页面重试。";
        el.parentNode.insertBefore(note, el.nextSibling);
      }, STALL_MS);
    });
  }

  function mount(days, range) {
    var el = document.getElementById("search");
    var key = range + ":" + days.join(",");
    if (key === mounted) { return; }  // same days: keep the box (and what was typed)
    mounted = key;
    el.removeAttribute("data-range");
    el.innerHTML = "";
    if (!days.length) {
      el.textContent = "搜索索引正在生成，请稍后再试。";
      return;
    }
    var bundles = days.map(function (d) { return { bundlePath: base + "search/shards/" + d + "/" }; });
    new PagefindUI({
      element: "#search",
      bundlePath: bundles[0].bundlePath,
      mergeIndex: bundles.slice(1),
      showImages: false,
      resetStyles: false,
      pageSize: 10,
      translations: {
        placeholder: "输入关键词，例如：物业、噪音、临时电",
        zero_results: "没有找到与 [SEARCH_TERM] 相关的工单",
        many_results: "找到 [COUNT] 件与 [SEARCH_TERM] 相关的工单",
        one_result: "找到 1 件与 [SEARCH_TERM] 相关的工单",
        load_more: "加载更多",
        search_label: "搜索工单"
      }
    });
    el.setAttribute("data-range", range);  // for scripts and tests: which range is mounted
  }

  function start() {
    document.getElementById("shoufa-go").addEventListener("click", lookup);
    document.getElementById("shoufa-id").addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); lookup(); }
    });
    watchStall(document.getElementById("search"));
    fetch(base + "search/shards.json").then(function (r) { return r.json(); }).then(function (data) {
      var range = document.getElementById("shoufa-range");
      function pick() {
        var days = data.days;
        if (range.value !== "all") {
          var n = parseInt(range.value, 10);
          var cutoff = new Date(Date.now() - n * 86400000).toISOString().slice(0, 10);
          days = days.filter(function (d) { return d >= cutoff; });
          if (!days.length) { days = data.days.slice(0, n); }
        }
        mount(days, range.value);
      }
      range.addEventListener("change", pick);
      pick();
    }).catch(function () {
      mounted = null;
      document.getElementById("search").textContent = "搜索索引暂时无法加载，请刷新页面重试。";
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
