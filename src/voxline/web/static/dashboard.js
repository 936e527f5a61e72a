// Voxline dashboard: live call statuses without reloading, and the agent form's detected variables.
// Plain JavaScript, no dependencies; every page works without it (it only adds live updates).
"use strict";

const POLL_MS = 1500;

function text(el, value) { if (el && el.textContent !== value) el.textContent = value; }
function pretty(status) { return String(status).replace(/_/g, " "); }
function duration(secs) { return secs === null || secs === undefined ? "—" : secs + " s"; }

// The calls list: refresh each row's status and duration, and add new calls at the top.
function pollCallList(table) {
  const url = table.dataset.poll;
  const body = table.tBodies[0];
  async function tick() {
    try {
      const r = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (r.ok) render(await r.json());
    } catch (e) { /* offline for a moment: try again at the next tick */ }
    setTimeout(tick, POLL_MS);
  }
  function row(call) {
    const tr = document.createElement("tr");
    tr.dataset.callId = call.call_id;
    const cells = [];
    const labels = ["Created", "To", "Agent", "Carrier", "Status", "Duration"];
    for (const label of labels) {
      const td = document.createElement("td");
      td.dataset.label = label;  // the phone layout shows it before the value
      cells.push(td);
      tr.appendChild(td);
    }
    const a = document.createElement("a");
    a.href = "/calls/" + encodeURIComponent(call.call_id);
    a.textContent = (call.created_at || "").slice(0, 19).replace("T", " ");
    cells[0].appendChild(a);
    cells[1].textContent = call.to_number;
    cells[2].textContent = call.agent_name;
    cells[3].textContent = call.provider;
    const s = document.createElement("span");
    s.dataset.status = "";
    cells[4].appendChild(s);
    cells[5].dataset.duration = "";
    return tr;
  }
  function render(data) {
    const seen = new Map();
    for (const tr of body.querySelectorAll("tr[data-call-id]")) seen.set(tr.dataset.callId, tr);
    const empty = body.querySelector("tr.empty");
    if (empty && data.calls.length) empty.remove();
    let before = body.firstChild;
    for (const call of data.calls) {
      let tr = seen.get(call.call_id);
      if (!tr) { tr = row(call); body.insertBefore(tr, before); }
      before = tr.nextSibling;
      const s = tr.querySelector("[data-status]");
      s.className = "status status-" + call.status;
      text(s, pretty(call.status));
      text(tr.querySelector("[data-duration]"), duration(call.duration_seconds));
    }
    text(document.getElementById("calls-count"), data.total + (data.total === 1 ? " call" : " calls"));
  }
  setTimeout(tick, POLL_MS);
}

// One call: follow its status; once it has ended and its session is filed, swap in the finished page's
// content (transcript, recording, deliveries) without reloading.
function pollCall(box) {
  async function tick() {
    let done = false;
    try {
      const r = await fetch(box.dataset.statusUrl, { credentials: "same-origin" });
      if (r.ok) {
        const s = await r.json();
        const el = document.getElementById("call-status");
        el.className = "status status-" + s.status;
        text(el, pretty(s.status));
        text(document.getElementById("call-disposition"), s.disposition || "—");
        text(document.getElementById("call-duration"), duration(s.duration_seconds));
        if (s.finished && s.processing_complete) { await refresh(); done = true; }
      }
    } catch (e) { /* try again at the next tick */ }
    if (!done) setTimeout(tick, POLL_MS);
  }
  async function refresh() {
    const r = await fetch(window.location.pathname, { credentials: "same-origin" });
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    const fresh = doc.getElementById("call-live");
    if (fresh) { box.innerHTML = fresh.innerHTML; box.dataset.finished = "true"; }
  }
  setTimeout(tick, POLL_MS);
}

// The agent form: show the {{variables}} the prompt and greeting use, as they are typed.
function detectVariables(form) {
  const out = document.getElementById("detected-variables");
  const fields = form.querySelectorAll("[data-variables]");
  const pattern = /\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}/g;
  function update() {
    const names = [];
    for (const f of fields) for (const m of f.value.matchAll(pattern)) if (!names.includes(m[1])) names.push(m[1]);
    out.replaceChildren();
    if (!names.length) { out.textContent = "none"; return; }
    for (const n of names) {
      const c = document.createElement("code");
      c.textContent = n;
      out.appendChild(c);
      out.appendChild(document.createTextNode(" "));
    }
  }
  for (const f of fields) f.addEventListener("input", update);
  update();
}

document.addEventListener("DOMContentLoaded", () => {
  const table = document.querySelector("table[data-poll]");
  if (table) pollCallList(table);
  const call = document.getElementById("call-live");
  if (call && call.dataset.finished !== "true") pollCall(call);
  const agent = document.getElementById("agent-form");
  if (agent && document.getElementById("detected-variables")) detectVariables(agent);
});
