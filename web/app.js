// rlhf annotation UI: signs in with a token, fetches the next task, shows the responses side by
// side in the order the server chose for this annotator, and posts pairwise choices or rankings.
// All task text is rendered by markdown.js as text nodes, never as HTML.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const LETTERS = "ABCDEFGHIJKLMNOP";
  const state = { token: sessionStorage.getItem("rlhf_token") || "", task: null, mode: "pair", ranking: [], tieNext: false, busy: false };

  async function api(method, path, body) {
    const opts = { method, headers: { Authorization: "Bearer " + state.token } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const res = await fetch(path, opts);
    let data = null;
    if (res.status !== 204) {
      try { data = await res.json(); } catch (e) { data = null; }
    }
    return { status: res.status, data };
  }

  function setStatus(text, isError) {
    const s = $("status");
    s.textContent = text;
    s.className = isError ? "error" : "ok";
  }

  async function login(token) {
    state.token = token;
    const r = await api("GET", "/api/me");
    if (r.status !== 200) {
      $("login-error").textContent = (r.data && r.data.error) || "sign-in failed (HTTP " + r.status + ")";
      state.token = "";
      sessionStorage.removeItem("rlhf_token");
      return;
    }
    sessionStorage.setItem("rlhf_token", token);
    $("login-view").hidden = true;
    $("main-view").hidden = false;
    $("who").textContent = r.data.name + " (" + r.data.role + ")";
    const g = await api("GET", "/api/guidelines");
    const box = $("guidelines");
    box.textContent = "";
    if (g.status === 200 && g.data.text) RlhfMarkdown.renderMarkdown(g.data.text, box);
    else box.textContent = "No guidelines were given to this server.";
    await loadNext();
  }

  async function updateProgress() {
    const r = await api("GET", "/api/me");
    if (r.status === 200) $("progress").textContent = "Labelled " + r.data.labels + " · " + r.data.remaining + " left";
  }

  function resetInputs() {
    for (const box of document.querySelectorAll("#flags input")) box.checked = false;
    $("rationale").value = "";
    state.ranking = [];
    state.tieNext = false;
  }

  async function loadNext() {
    const r = await api("GET", "/api/tasks/next");
    await updateProgress();
    if (r.status === 204) {
      state.task = null;
      $("task").hidden = true;
      $("empty").hidden = false;
      return;
    }
    if (r.status !== 200) return setStatus((r.data && r.data.error) || "could not fetch a task (HTTP " + r.status + ")", true);
    state.task = r.data.task;
    state.mode = state.task.k > 2 ? "ranking" : "pair";
    resetInputs();
    renderTask();
  }

  function renderTask() {
    const t = state.task;
    $("empty").hidden = true;
    $("task").hidden = false;
    $("task").dataset.taskId = t.id;
    const prompt = $("prompt");
    prompt.textContent = "";
    RlhfMarkdown.renderDialogue(t.prompt, prompt);
    const shown = state.mode === "pair" ? t.display_order.slice(0, 2) : t.display_order;
    const box = $("responses");
    box.textContent = "";
    box.className = "cols-" + shown.length;
    shown.forEach((idx, pos) => {
      const card = document.createElement("article");
      card.className = "response";
      card.id = "response-" + pos;
      card.dataset.index = idx;
      const h = document.createElement("h3");
      h.textContent = "Response " + LETTERS[pos] + (state.mode === "ranking" ? " (" + (pos + 1) + ")" : "");
      card.appendChild(h);
      const body = document.createElement("div");
      body.className = "response-body";
      RlhfMarkdown.renderMarkdown(t.responses[idx].replace(/^ /, ""), body);
      card.appendChild(body);
      card.addEventListener("click", () => { if (state.mode === "ranking") addToRanking(pos); });
      box.appendChild(card);
    });
    $("pair-controls").hidden = state.mode !== "pair";
    $("ranking-controls").hidden = state.mode !== "ranking";
    $("mode-toggle").hidden = t.k <= 2;
    $("mode-label").textContent = state.mode === "pair" ? "Which response is better?" : "Rank the responses, best first.";
    renderRanking();
  }

  function renderRanking() {
    const parts = state.ranking.map((g) => g.map((pos) => LETTERS[pos]).join(" = "));
    $("ranking-display").textContent = parts.length ? parts.join("  >  ") : "(empty)";
    $("tie-next").hidden = !state.tieNext;
    for (const card of document.querySelectorAll(".response")) {
      const pos = Number(card.id.split("-")[1]);
      card.classList.toggle("ranked", state.ranking.some((g) => g.includes(pos)));
    }
  }

  function addToRanking(pos) {
    if (!state.task || pos >= state.task.display_order.length) return;
    if (state.ranking.some((g) => g.includes(pos))) return;
    if (state.tieNext && state.ranking.length) state.ranking[state.ranking.length - 1].push(pos);
    else state.ranking.push([pos]);
    state.tieNext = false;
    renderRanking();
  }

  function extras() {
    const flags = [...document.querySelectorAll("#flags input:checked")].map((b) => b.value);
    const out = { flags };
    const why = $("rationale").value.trim();
    if (why) out.rationale = why;
    return out;
  }

  async function submit(label) {
    if (state.busy || !state.task) return;
    state.busy = true;
    try {
      const r = await api("POST", "/api/labels", Object.assign({ task_id: state.task.id }, label, extras()));
      if (r.status === 201) {
        await loadNext();
        setStatus("Saved label " + r.data.label_id, false);
      } else {
        setStatus((r.data && r.data.error) || "HTTP " + r.status, true);
      }
    } finally {
      state.busy = false;
    }
  }

  function choosePair(side, strength) {
    const [left, right] = state.task.display_order;
    if (!side) return submit({ chosen: left, rejected: right, strength });
    const chosen = side === "left" ? left : right;
    submit({ chosen, rejected: chosen === left ? right : left, strength });
  }

  function submitRanking() {
    const order = state.task.display_order;
    const placed = state.ranking.reduce((n, g) => n + g.length, 0);
    if (placed !== order.length) return setStatus("Rank all " + order.length + " responses first (" + placed + " placed)", true);
    const ranking = state.ranking.map((g) => (g.length === 1 ? order[g[0]] : g.map((pos) => order[pos])));
    submit({ ranking });
  }

  async function undo() {
    if (state.busy) return;
    state.busy = true;
    try {
      const r = await api("DELETE", "/api/labels/last");
      if (r.status === 200) {
        await loadNext();
        setStatus("Undid label " + r.data.label_id, false);
      } else {
        setStatus((r.data && r.data.error) || "HTTP " + r.status, true);
      }
    } finally {
      state.busy = false;
    }
  }

  function toggleFlag(name) {
    const box = $("flag-" + name);
    box.checked = !box.checked;
  }

  function onKey(e) {
    if ($("main-view").hidden || e.ctrlKey || e.metaKey || e.altKey) return;
    const typing = e.target && (e.target.tagName === "TEXTAREA" || e.target.tagName === "INPUT");
    if (typing) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    const k = e.key;
    if (k === "?") return $("help").hidden = !$("help").hidden;
    if (k === "Escape") return $("help").hidden = true;
    if (k === "g" || k === "G") return $("guidelines-panel").classList.toggle("collapsed");
    if (k === "z" || k === "Z") return undo();
    if (!state.task) return;
    if (k === "u" || k === "U") return toggleFlag("unsafe");
    if (k === "f" || k === "F") return toggleFlag("factually_wrong");
    if (k === "o" || k === "O") return toggleFlag("off_topic");
    if (k === "r" || k === "R") { e.preventDefault(); return $("rationale").focus(); }
    if ((k === "m" || k === "M") && state.task.k > 2) { state.mode = state.mode === "pair" ? "ranking" : "pair"; state.ranking = []; return renderTask(); }
    if (state.mode === "pair") {
      const map = { "1": ["left", "much_better"], "2": ["left", "better"], "3": ["left", "slightly_better"],
        "4": [null, "tie"], t: [null, "tie"], T: [null, "tie"], "5": ["right", "slightly_better"],
        "6": ["right", "better"], "7": ["right", "much_better"], b: [null, "both_bad"], B: [null, "both_bad"] };
      if (map[k]) { e.preventDefault(); choosePair(map[k][0], map[k][1]); }
      return;
    }
    if (/^[1-9]$/.test(k)) return addToRanking(Number(k) - 1);
    if (k === "=") { state.tieNext = true; return renderRanking(); }
    if (k === "Backspace") { e.preventDefault(); state.ranking.pop(); state.tieNext = false; return renderRanking(); }
    if (k === "Enter") { e.preventDefault(); return submitRanking(); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (e) => { e.preventDefault(); login($("token").value.trim()); });
    $("logout").addEventListener("click", () => { sessionStorage.removeItem("rlhf_token"); location.reload(); });
    $("undo").addEventListener("click", undo);
    $("refresh").addEventListener("click", loadNext);
    $("toggle-guidelines").addEventListener("click", () => $("guidelines-panel").classList.toggle("collapsed"));
    $("toggle-help").addEventListener("click", () => { $("help").hidden = !$("help").hidden; });
    $("mode-toggle").addEventListener("click", () => { state.mode = state.mode === "pair" ? "ranking" : "pair"; state.ranking = []; renderTask(); });
    for (const b of document.querySelectorAll("button.choice"))
      b.addEventListener("click", () => { b.blur(); choosePair(b.dataset.side || null, b.dataset.strength); });
    $("rank-tie").addEventListener("click", () => { state.tieNext = true; renderRanking(); });
    $("rank-back").addEventListener("click", () => { state.ranking.pop(); renderRanking(); });
    $("rank-submit").addEventListener("click", submitRanking);
    document.addEventListener("keydown", onKey);
    if (state.token) login(state.token);
  });
})();
