// rlhf admin dashboard: fetches /api/admin/stats with an admin token and draws tables and bars.
// Annotator names and every other value are put in the page as text, never as HTML.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem("rlhf_admin_token") || "";
  let timer = null;

  const fmt = (v, digits) => (v === null || v === undefined ? "–" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(digits === undefined ? 3 : digits)) : String(v));

  function row(table, cells, header) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement(header ? "th" : "td");
      if (c instanceof Node) td.appendChild(c);
      else td.textContent = fmt(c);
      tr.appendChild(td);
    }
    table.appendChild(tr);
  }

  function bar(value, max) {
    const wrap = document.createElement("span");
    wrap.className = "bar-wrap";
    const b = document.createElement("span");
    b.className = "bar";
    b.style.width = (max > 0 ? Math.round((100 * value) / max) : 0) + "px";
    wrap.appendChild(b);
    wrap.appendChild(document.createTextNode(" " + value));
    return wrap;
  }

  function draw(s) {
    const c = $("counts");
    c.textContent = "";
    row(c, ["tasks (normal)", s.counts.tasks.normal]);
    row(c, ["open tasks", s.counts.tasks.open]);
    row(c, ["gold tasks", s.counts.tasks.gold]);
    row(c, ["swapped duplicates", s.counts.tasks.duplicate]);
    row(c, ["labels", s.counts.labels]);
    row(c, ["annotators", s.counts.annotators]);
    row(c, ["ratings", s.counts.ratings.total]);
    row(c, ["thumbs up / down", s.counts.ratings.thumbs_up + " / " + s.counts.ratings.thumbs_down]);
    row(c, ["mean rating (1-5)", s.counts.ratings.mean_rating]);

    const a = $("agreement");
    a.textContent = "";
    row(a, ["Cohen's κ (pairs, mean over annotator pairs)", s.agreement.cohen_kappa_mean]);
    row(a, ["Kendall's W (rankings, mean over " + s.agreement.kendall_w_tasks + " tasks)", s.agreement.kendall_w_mean]);
    const kp = $("kappa-pairs");
    kp.textContent = "";
    row(kp, ["annotator", "annotator", "shared items", "κ"], true);
    for (const p of s.agreement.cohen_kappa_pairs) row(kp, [p.a, p.b, p.items, p.kappa]);

    const t = $("annotators");
    t.textContent = "";
    row(t, ["annotator", "labels", "agreement", "gold accuracy", "self-consistency", "left share", "median s/label"], true);
    for (const u of s.annotators)
      row(t, [u.annotator, u.labels, withN(u.agreement, u.agreement_n), withN(u.gold_accuracy, u.gold_n),
        withN(u.self_consistency, u.duplicate_n), withN(u.left_share, u.position_n), fmt(u.median_seconds, 1)]);

    const h = $("per-hour");
    h.textContent = "";
    const hours = [...new Set(Object.values(s.labels_per_hour).flat().map((x) => x.hour))].sort((x, y) => x - y).slice(-12);
    row(h, ["annotator", ...hours.map((x) => new Date(x * 1000).toISOString().slice(5, 13).replace("T", " ") + "h")], true);
    let max = 1;
    for (const rows of Object.values(s.labels_per_hour)) for (const r of rows) max = Math.max(max, r.labels);
    for (const [name, rows] of Object.entries(s.labels_per_hour)) {
      const by = Object.fromEntries(rows.map((r) => [r.hour, r.labels]));
      row(h, [name, ...hours.map((x) => bar(by[x] || 0, max))]);
    }

    const ch = $("choices");
    ch.textContent = "";
    const st = s.choices.strength;
    const total = Math.max(1, ...Object.values(st), s.choices.rankings);
    row(ch, ["answer", "count"], true);
    for (const [k, v] of Object.entries(st)) row(ch, [k.replace("_", " "), bar(v, total)]);
    row(ch, ["rankings", bar(s.choices.rankings, total)]);
    row(ch, ["chose left / right", s.choices.position.left + " / " + s.choices.position.right]);
    for (const [k, v] of Object.entries(s.choices.flags)) row(ch, ["flag: " + k.replace("_", " "), v]);
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  }

  const withN = (v, n) => (v === null ? "–" : fmt(v) + " (n=" + n + ")");

  async function load() {
    const res = await fetch("/api/admin/stats", { headers: { Authorization: "Bearer " + token } });
    const data = await res.json().catch(() => null);
    if (res.status !== 200) {
      $("login-error").textContent = (data && data.error) || "HTTP " + res.status;
      $("dash-view").hidden = true;
      $("login-view").hidden = false;
      sessionStorage.removeItem("rlhf_admin_token");
      return;
    }
    sessionStorage.setItem("rlhf_admin_token", token);
    $("login-view").hidden = true;
    $("dash-view").hidden = false;
    draw(data);
    clearTimeout(timer);
    timer = setTimeout(load, 10000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (e) => { e.preventDefault(); token = $("token").value.trim(); load(); });
    $("reload").addEventListener("click", load);
    $("logout").addEventListener("click", () => { sessionStorage.removeItem("rlhf_admin_token"); location.reload(); });
    if (token) load();
  });
})();
