// The answers view (#an-list): filters the problems by task and class and sorts them by base rate, RL rate,
// delta rate or id. Like the table script it holds no summary data: it moves existing elements, toggles
// `hidden` and writes a count through textContent. Optional state in the URL fragment, e.g.
// report.html#answers?task=add&cls=rl_only&sort=base&dir=desc&open=1
(function () {
  "use strict";
  var list = document.getElementById("an-list");
  if (!list) { return; }
  try {
    var taskSel = document.getElementById("an-task");
    var sortSel = document.getElementById("an-sort");
    var desc = document.getElementById("an-desc");
    var checks = Array.prototype.slice.call(document.querySelectorAll("input.an-cls"));
    var count = document.getElementById("an-count");
    var items = Array.prototype.slice.call(list.querySelectorAll("details.an-item"));

    function num(el, key) {
      var v = parseFloat(el.getAttribute("data-" + key));
      return isNaN(v) ? -Infinity : v;
    }

    function filter() {
      var task = taskSel.value;
      var allowed = {};
      checks.forEach(function (cb) { if (cb.checked) { allowed[cb.value] = true; } });
      var shown = 0;
      items.forEach(function (el) {
        var ok = allowed[el.getAttribute("data-class")] === true && (task === "" || el.getAttribute("data-task") === task);
        el.hidden = !ok;
        if (ok) { shown += 1; }
      });
      count.textContent = "showing " + shown.toLocaleString("en") + " of " + items.length.toLocaleString("en");
      list.setAttribute("data-shown", String(shown));
    }

    function sort() {
      var key = sortSel.value;
      var down = desc.checked;
      var keyed = items.map(function (el) {
        var k = key === "id" ? (el.getAttribute("data-id") || "").toLowerCase() : num(el, key);
        return { el: el, k: k, pos: num(el, "order") };
      });
      keyed.sort(function (a, b) {
        if (a.k < b.k) { return down ? 1 : -1; }
        if (a.k > b.k) { return down ? -1 : 1; }
        return a.pos - b.pos;
      });
      items = keyed.map(function (x) { return x.el; });
      var frag = document.createDocumentFragment();
      items.forEach(function (el) { frag.appendChild(el); });
      list.appendChild(frag);
      list.setAttribute("data-sort", key + (down ? ":desc" : ":asc"));
    }

    taskSel.addEventListener("change", filter);
    checks.forEach(function (cb) { cb.addEventListener("change", filter); });
    sortSel.addEventListener("change", sort);
    desc.addEventListener("change", sort);

    var m = /^#answers\?(.*)$/.exec(window.location.hash);
    if (m) {
      var params = new URLSearchParams(m[1]);
      if (params.has("task")) { taskSel.value = params.get("task"); }
      if (params.has("cls")) {
        var want = params.get("cls").split(",");
        checks.forEach(function (cb) { cb.checked = want.indexOf(cb.value) !== -1; });
      }
      if (params.has("sort")) { sortSel.value = params.get("sort"); }
      desc.checked = params.get("dir") === "desc";
      if (params.get("open") === "1") { items.forEach(function (el) { el.open = true; }); }
    }
    filter();
    sort();
    if (m) { document.getElementById("answers").scrollIntoView(); }
    list.setAttribute("data-ready", "1");
  } catch (err) {
    document.documentElement.setAttribute("data-script-error", String(err));
    throw err;
  }
})();
