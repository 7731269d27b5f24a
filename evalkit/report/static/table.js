// The report's only script: sorts and filters the problem table (#pt). It holds no summary data: it moves
// existing rows, toggles `hidden` and writes numbers through textContent. Optional state in the URL
// fragment, e.g. report.html#problem-table?q=add&task=add&cls=rl_only,both&sort=5&dir=desc
(function () {
  "use strict";
  var table = document.getElementById("pt");
  if (!table) { return; }
  try {
    var tbody = table.tBodies[0];
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var box = document.getElementById("pt-q");
    var taskSel = document.getElementById("pt-task");
    var checks = Array.prototype.slice.call(document.querySelectorAll("input.pt-cls"));
    var count = document.getElementById("pt-count");
    var items = Array.prototype.map.call(tbody.rows, function (row, i) {
      var text = "";
      for (var c = 0; c < 3; c++) { text += row.cells[c].textContent.toLowerCase() + "\n"; }
      return { row: row, pos: i, text: text, cls: row.getAttribute("data-class"), task: row.cells[1].getAttribute("data-task") };
    });
    var sortCol = -1;
    var sortDesc = false;

    function key(item, col, numeric) {
      var cell = item.row.cells[col];
      if (!numeric) { return cell.textContent.toLowerCase(); }
      var v = parseFloat(cell.getAttribute("data-v"));
      return isNaN(v) ? -Infinity : v;
    }

    function filter() {
      var q = box.value.trim().toLowerCase();
      var task = taskSel ? taskSel.value : "";
      var allowed = {};
      checks.forEach(function (cb) { if (cb.checked) { allowed[cb.value] = true; } });
      var shown = 0;
      items.forEach(function (item) {
        var ok = allowed[item.cls] === true && (q === "" || item.text.indexOf(q) !== -1) &&
          (task === "" || item.task === task);
        item.row.hidden = !ok;
        if (ok) { shown += 1; }
      });
      count.textContent = "showing " + shown.toLocaleString("en") + " of " + items.length.toLocaleString("en");
      table.setAttribute("data-shown", String(shown));
    }

    function sortBy(col, desc) {
      var numeric = heads[col].getAttribute("data-type") === "num";
      sortCol = col;
      sortDesc = desc;
      var keyed = items.map(function (item) { return { k: key(item, col, numeric), item: item }; });
      keyed.sort(function (a, b) {
        if (a.k < b.k) { return desc ? 1 : -1; }
        if (a.k > b.k) { return desc ? -1 : 1; }
        return a.item.pos - b.item.pos;
      });
      items = keyed.map(function (x) { return x.item; });
      var frag = document.createDocumentFragment();
      items.forEach(function (item) { frag.appendChild(item.row); });
      tbody.appendChild(frag);
      heads.forEach(function (th, i) {
        if (i === col) { th.setAttribute("aria-sort", desc ? "descending" : "ascending"); }
        else { th.removeAttribute("aria-sort"); }
      });
    }

    heads.forEach(function (th, i) {
      th.querySelector("button").addEventListener("click", function () {
        // numbers sort largest first on the first click, text A to Z
        sortBy(i, i === sortCol ? !sortDesc : th.getAttribute("data-type") === "num");
      });
    });
    box.addEventListener("input", filter);
    if (taskSel) { taskSel.addEventListener("change", filter); }
    checks.forEach(function (cb) { cb.addEventListener("change", filter); });

    var m = /^#problem-table\?(.*)$/.exec(window.location.hash);
    if (m) {
      var params = new URLSearchParams(m[1]);
      if (params.has("q")) { box.value = params.get("q"); }
      if (params.has("task") && taskSel) { taskSel.value = params.get("task"); }
      if (params.has("cls")) {
        var want = params.get("cls").split(",");
        checks.forEach(function (cb) { cb.checked = want.indexOf(cb.value) !== -1; });
      }
      var col = parseInt(params.get("sort") || "", 10);
      if (col >= 0 && col < heads.length) { sortBy(col, params.get("dir") === "desc"); }
    }
    filter();
    if (m) { document.getElementById("problem-table").scrollIntoView(); }
    table.setAttribute("data-ready", "1");
  } catch (err) {
    document.documentElement.setAttribute("data-script-error", String(err));
    throw err;
  }
})();
