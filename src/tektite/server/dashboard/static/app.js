// tektite dashboard: a build-less ES module. All URLs are relative to the page (mount anywhere).
// Data is only ever put in the page with textContent / attributes, never parsed as HTML.

const main = document.getElementById("main");
const who = document.getElementById("who");
const SVG = "http://www.w3.org/2000/svg";
const POST_HEADER = { "X-Requested-By": "tektite-dashboard" };

let me = null;            // whoami
let view = null;          // the current view's cleanup
let generation = 0;       // bumps on every navigation, so stale async work stops

// ---------------------------------------------------------------------------- helpers
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

class HttpError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", ...options };
  if (init.method === "POST") init.headers = { ...POST_HEADER, ...(init.headers || {}) };
  const resp = await fetch(path, init);
  const body = await resp.json().catch(() => null);
  if (resp.status === 401 && !path.endsWith("api/login")) {
    me = null;
    showLogin();
  }
  if (!resp.ok) throw new HttpError(resp.status, body);
  return body;
}

function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const t = Math.round(seconds);
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m ${t % 60}s`;
  return `${Math.floor(t / 3600)}h ${Math.floor((t % 3600) / 60)}m`;
}

function fmtTime(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  return isNaN(d) ? ts : d.toLocaleString();
}

function liveDuration(item) {
  if (!item.startTime) return "";
  if (item.completionTime || item.duration === null) return fmtDuration(item.duration);
  return fmtDuration((Date.now() - new Date(item.startTime).getTime()) / 1000);
}

const badge = (status) => h("span", { class: `badge s-${status}`, "data-status": status }, status);
const done = (status) => !["Pending", "Running"].includes(status);
const runHref = (ns, kind, name) => `#/run/${encodeURIComponent(ns)}/${kind}/${encodeURIComponent(name)}`;
const runPath = (ns, kind, name) => `api/runs/${encodeURIComponent(ns)}/${kind}/${encodeURIComponent(name)}`;

function valueText(v) {
  return typeof v === "string" ? v : JSON.stringify(v);
}

function table(headers, rows, attrs = {}) {
  return h("table", attrs, h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))), h("tbody", {}, rows));
}

function setMain(...children) {
  main.replaceChildren(...children);
}

// ---------------------------------------------------------------------------- login
function showLogin(message) {
  who.replaceChildren();
  if (view) view();
  view = null;
  const input = h("input", { type: "password", id: "token", placeholder: "tkt_…", autocomplete: "off" });
  const err = h("p", { class: "error", id: "login-error" }, message || "");
  const form = h("form", { class: "card login", id: "login-form" },
    h("h1", {}, "Log in"),
    h("p", { class: "muted" }, "Paste a token made with ", h("code", {}, "tektite token create --role view|edit|admin"), "."),
    input, h("button", { class: "primary", type: "submit" }, "Log in"), err);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("api/login", { method: "POST", headers: { Authorization: `Bearer ${input.value.trim()}` } });
      await start();
    } catch (e) {
      err.textContent = e.status === 401 ? "That token is not valid." : e.message;
    }
  });
  setMain(form);
  input.focus();
}

async function logout() {
  await api("api/logout", { method: "POST" }).catch(() => null);
  me = null;
  showLogin("Logged out.");
}

// ---------------------------------------------------------------------------- runs list
const FILTERS = ["kind", "status", "pipeline", "label", "namespace"];
const pageTokens = new Map(); // filter key -> [token of page 1 (""), token of page 2, ...]

function parseHashQuery() {
  const q = location.hash.split("?")[1] || "";
  return new URLSearchParams(q);
}

function listView() {
  const gen = generation;
  const params = parseHashQuery();
  const page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  const filters = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) || ""]));
  const key = JSON.stringify(filters);
  if (!pageTokens.has(key)) pageTokens.set(key, [""]);
  const tokens = pageTokens.get(key);

  const field = (name, control) => h("label", {}, name, control);
  const kind = h("select", { name: "kind", id: "f-kind" },
    [["", "All kinds"], ["PipelineRun", "PipelineRun"], ["TaskRun", "TaskRun"]].map(([v, t]) =>
      h("option", { value: v, selected: filters.kind === v }, t)));
  const status = h("select", { name: "status", id: "f-status" },
    h("option", { value: "" }, "Any status"),
    me.statuses.map((v) => h("option", { value: v, selected: filters.status === v }, v)));
  const text = (name, placeholder) =>
    h("input", { name, id: `f-${name}`, value: filters[name], placeholder, size: name === "label" ? 26 : 14 });
  const form = h("form", { class: "filters", id: "filters" },
    field("Kind", kind), field("Status", status), field("Pipeline", text("pipeline", "name")),
    field("Label selector", text("label", "app=web,env!=dev")), field("Namespace", text("namespace", "all")),
    h("button", { class: "primary", type: "submit", id: "apply" }, "Filter"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const f of FILTERS) {
      const v = form.elements[f].value.trim();
      if (v) q.set(f, v);
    }
    location.hash = `#/?${q}`;
  });

  const body = h("div", { id: "runs" }, h("p", { class: "muted" }, "Loading…"));
  setMain(h("h1", {}, "Runs"), form, body);

  const go = (n) => {
    const q = new URLSearchParams(parseHashQuery());
    q.set("page", String(n));
    location.hash = `#/?${q}`;
  };

  async function load() {
    if (page > tokens.length) {  // a page we have no token for (reload): start over
      go(1);
      return;
    }
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
    q.set("limit", params.get("limit") || "50");
    if (tokens[page - 1]) q.set("continue", tokens[page - 1]);
    let res;
    try {
      res = await api(`api/runs?${q}`);
    } catch (e) {
      if (gen === generation) body.replaceChildren(h("p", { class: "error", id: "runs-error" }, e.message));
      return;
    }
    if (gen !== generation) return;
    if (res.continue) tokens[page] = res.continue;
    else tokens.length = page;
    const rows = res.items.map((r) =>
      h("tr", { "data-run": `${r.namespace}/${r.kind}/${r.name}`, "data-status": r.status },
        h("td", {}, badge(r.status)),
        h("td", {}, h("a", { href: runHref(r.namespace, r.kind, r.name) }, r.name)),
        h("td", {}, r.kind),
        h("td", {}, r.namespace),
        h("td", {}, r.pipeline || r.task || ""),
        h("td", {}, fmtTime(r.startTime || r.created)),
        h("td", {}, liveDuration(r)),
        h("td", {}, r.signed === "true" ? "signed" : r.signed || "")));
    const empty = h("p", { class: "muted", id: "no-runs" }, "No runs match these filters.");
    const first = (page - 1) * Number(q.get("limit")) + 1;
    const pager = h("div", { class: "pager" },
      h("button", { id: "prev", disabled: page <= 1, onclick: () => go(page - 1) }, "← Previous"),
      h("span", { id: "page-info" }, res.items.length
        ? `Page ${page}: runs ${first}–${first + res.items.length - 1}` + (res.remaining ? `, ${res.remaining} more` : "")
        : `Page ${page}`),
      h("button", { id: "next", disabled: !res.continue, onclick: () => go(page + 1) }, "Next →"));
    body.replaceChildren(
      res.items.length
        ? table(["Status", "Name", "Kind", "Namespace", "Pipeline / Task", "Started", "Duration", "Provenance"], rows,
          { id: "runs-table", "data-page": page })
        : empty,
      pager);
  }

  load();
  const timer = setInterval(load, 4000);
  return () => clearInterval(timer);
}

// ---------------------------------------------------------------------------- run page
function dagView(graph, namespace) {
  const wrap = h("div", { class: "dag card", id: "dag" });
  if (!graph) return wrap.appendChild(h("p", { class: "muted" }, "The pipeline has not been resolved yet.")) && wrap;
  if (graph.error) return wrap.appendChild(h("p", { class: "error" }, graph.error)) && wrap;
  const svg = s("svg", { width: graph.width, height: graph.height, viewBox: `0 0 ${graph.width} ${graph.height}` });
  const byName = Object.fromEntries(graph.nodes.map((n) => [n.name, n]));
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7,
    markerHeight: 7, orient: "auto-start-reverse" }, s("path", { d: "M0,0 L10,5 L0,10 z", fill: "#8c959f" }))));
  if (graph.finallyColumn !== null) {
    const xs = graph.nodes.filter((n) => n.finally).map((n) => n.x);
    const x = Math.min(...xs) - 12;
    svg.append(s("rect", { class: "finally-band", x, y: 0, width: graph.width - x, height: graph.height }),
      s("text", { class: "finally-label", x: x + 6, y: 11 }, "finally"));
  }
  for (const e of graph.edges) {
    const a = byName[e.from], b = byName[e.to];
    if (!a || !b) continue;
    const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2, mx = (x1 + x2) / 2;
    svg.append(s("path", { class: `edge ${e.via}`, "data-edge": `${e.from}->${e.to}`,
      "marker-end": "url(#arrow)", d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` }));
  }
  for (const n of graph.nodes) {
    const g = s("g", { class: `node st-${n.status}`, "data-task": n.name, "data-status": n.status,
      "data-reused": n.reused ? "true" : "", transform: `translate(${n.x},${n.y})` },
      s("title", {}, `${n.name}: ${n.status}${n.reason ? ` (${n.reason})` : ""}`),
      s("rect", { width: n.w, height: n.h }),
      s("text", { class: "title", x: 10, y: 20 }, n.name.length > 22 ? n.name.slice(0, 21) + "…" : n.name),
      s("text", { x: 10, y: 39, "data-role": "detail" },
        n.reused ? `${n.status} · reused` :
        `${n.status}${n.duration !== undefined && n.duration !== null ? " · " + fmtDuration(n.duration) : ""}`));
    const child = (n.runs || [])[0];
    if (child) g.addEventListener("click", () => { location.hash = runHref(namespace, child.kind, child.name); });
    svg.append(g);
  }
  wrap.append(svg);
  return wrap;
}

function kvTable(title, rows, id, cols = ["Name", "Value"]) {
  return h("section", { id },
    h("h2", {}, title),
    rows.length ? table(cols, rows) : h("p", { class: "muted" }, "None."));
}

function provenanceView(p) {
  const box = h("div", { class: "card", id: "provenance", "data-state": p.state });
  const sig = p.signature;
  if (sig) box.setAttribute("data-verified", String(sig.verified));
  box.append(h("div", {}, "Chains: ", h("strong", {}, p.state),
    p.signedAnnotation ? ` (chains.tekton.dev/signed: ${p.signedAnnotation})` : ""));
  if (p.reason) box.append(h("p", { class: "muted" }, p.reason));
  if (sig) {
    box.append(h("p", { class: `verdict ${sig.verified ? "ok" : "bad"}`, id: "verdict" },
      sig.verified ? "✓ Signature verified" : "✗ Signature not verified",
      sig.format ? ` (${sig.format === "dsse" ? "DSSE envelope" : "raw signature"})` : ""),
    h("p", { id: "verdict-reason" }, sig.reason || ""));
  }
  if (p.transparency) {  // an annotation anyone who may edit the run can set: link only http(s)
    const safe = /^https?:\/\//i.test(p.transparency);
    box.append(h("p", {}, "Transparency log: ", safe ? h("a", { href: p.transparency, rel: "noopener noreferrer" }, p.transparency) : p.transparency));
  }
  if (p.payloadError) box.append(h("p", { class: "error" }, p.payloadError));
  const st = p.statement;
  if (st) {
    box.append(h("dl", { class: "meta" },
      h("dt", {}, "Statement type"), h("dd", { class: "mono" }, st._type || ""),
      h("dt", {}, "Predicate type"), h("dd", { class: "mono", id: "predicate-type" }, st.predicateType || ""),
      h("dt", {}, "Subjects"), h("dd", { class: "mono" },
        (st.subject || []).length ? st.subject.map((x) => h("div", {}, `${x.name} ${Object.entries(x.digest || {}).map(([a, d]) => `${a}:${d}`).join(" ")}`)) : h("span", { class: "muted" }, "none"))),
      h("details", {}, h("summary", {}, "in-toto statement"), h("pre", { id: "statement" }, JSON.stringify(st, null, 2))));
  }
  return box;
}

function streamLogs(namespace, name, container, gen) {
  const controller = new AbortController();
  const sections = new Map();
  const section = (key, label) => {
    if (!sections.has(key)) {
      const pre = h("pre", { "data-container": label });
      container.append(h("section", {}, h("h3", {}, label), pre));
      sections.set(key, pre);
    }
    return sections.get(key);
  };
  (async () => {
    let resp;
    try {
      resp = await fetch(`${runPath(namespace, "TaskRun", name)}/logs?follow=1`,
        { credentials: "same-origin", signal: controller.signal });
    } catch { return; }
    if (!resp.ok) {
      container.append(h("p", { class: "error" }, (await resp.json().catch(() => ({}))).error || `HTTP ${resp.status}`));
      return;
    }
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      let chunk;
      try { chunk = await reader.read(); } catch { return; }
      if (chunk.done || gen !== generation) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = "message", data = "";
        for (const line of frame.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        const msg = data ? JSON.parse(data) : {};
        if (event === "log") {
          const label = msg.attempt ? `${msg.container} (retry ${msg.attempt})` : msg.container;
          const pre = section(`${msg.attempt}/${msg.container}`, label);
          const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
          pre.append(msg.text);
          if (atEnd) pre.scrollTop = pre.scrollHeight;
        } else if (event === "end") {
          container.setAttribute("data-ended", msg.status);
          if (!sections.size) container.append(h("p", { class: "muted" }, "No output."));
        }
      }
    }
  })();
  return () => controller.abort();
}

function runView(namespace, kind, name) {
  const gen = generation;
  const header = h("div", { id: "run-header" });
  const body = h("div", { id: "run-body" });
  const prov = h("div", { id: "provenance-slot" });
  setMain(header, body, h("h2", {}, "Provenance"), prov);
  let stopLogs = null;
  let timer = null;
  let lastStatus = null;

  async function action(which, id = which, query = "") {
    const button = document.getElementById(id);
    if (button) button.disabled = true;
    try {
      const res = await api(`${runPath(namespace, kind, name)}/${which}${query}`, { method: "POST" });
      if (which === "rerun") location.hash = runHref(res.namespace, res.kind, res.name);
      else load();
    } catch (e) {
      header.append(h("p", { class: "error", id: "action-error" }, e.message));
      if (button) button.disabled = false;
    }
  }

  async function loadProvenance() {
    try {
      const p = await api(`${runPath(namespace, kind, name)}/provenance`);
      if (gen === generation) prov.replaceChildren(provenanceView(p));
    } catch (e) {
      if (gen === generation) prov.replaceChildren(h("p", { class: "error" }, e.message));
    }
  }

  async function load() {
    let d;
    try {
      d = await api(runPath(namespace, kind, name));
    } catch (e) {
      if (gen === generation) setMain(h("p", { class: "error", id: "run-error" }, e.message));
      clearInterval(timer);
      return;
    }
    if (gen !== generation) return;
    const sm = d.summary;
    const owned = kind === "TaskRun" && sm.pipelineRun;
    const buttons = h("div", { class: "actions" },
      d.can.cancel && !done(sm.status) ? h("button", { class: "danger", id: "cancel", onclick: () => action("cancel") }, "Cancel") : null,
      d.can.rerun && !owned ? h("button", { id: "rerun", onclick: () => action("rerun") }, "Rerun") : null,
      // reuses the tasks that succeeded with the same Task and inputs (controller/rerun.py)
      d.can.rerun && kind === "PipelineRun" && done(sm.status) && sm.status !== "Succeeded"
        ? h("button", { id: "rerun-from-failure", onclick: () => action("rerun", "rerun-from-failure", "?fromFailure=true") }, "Rerun from failure")
        : null);
    header.replaceChildren(
      h("h1", {}, h("span", { class: "muted" }, kind), h("span", { id: "run-name" }, name), badge(sm.status)),
      h("dl", { class: "meta card" },
        h("dt", {}, "Namespace"), h("dd", {}, namespace),
        sm.pipelineRun ? [h("dt", {}, "PipelineRun"), h("dd", {}, h("a", { id: "parent", href: runHref(namespace, "PipelineRun", sm.pipelineRun) }, sm.pipelineRun))] : null,
        sm.pipeline ? [h("dt", {}, "Pipeline"), h("dd", {}, sm.pipeline)] : null,
        sm.task ? [h("dt", {}, "Task"), h("dd", {}, sm.task)] : null,
        sm.labels["dashboard.tekton.dev/rerunOf"] ? [h("dt", {}, "Rerun of"), h("dd", {}, h("a", { href: runHref(namespace, kind, sm.labels["dashboard.tekton.dev/rerunOf"]) }, sm.labels["dashboard.tekton.dev/rerunOf"]))] : null,
        h("dt", {}, "Reason"), h("dd", { id: "reason" }, sm.reason || ""),
        h("dt", {}, "Message"), h("dd", { id: "message" }, sm.message || ""),
        h("dt", {}, "Started"), h("dd", {}, fmtTime(sm.startTime)),
        h("dt", {}, "Duration"), h("dd", { id: "duration" }, liveDuration(sm))),
      buttons);

    const parts = [];
    if (kind === "PipelineRun") {
      parts.push(h("h2", {}, "Pipeline"), dagView(d.graph, namespace));
      parts.push(h("section", { id: "tasks" }, h("h2", {}, "TaskRuns"),
        d.children.length ? table(["Status", "Task", "TaskRun", "Started", "Duration"], d.children.map((c) =>
          h("tr", { "data-task": c.pipelineTask || "", "data-reused": c.reused || "" },
            h("td", {}, badge(c.status), c.reused ? h("span", { class: "muted reused", title: `results of ${c.reused}` }, " reused") : null),
            h("td", {}, c.pipelineTask || ""),
            h("td", {}, h("a", { href: runHref(c.namespace, c.kind, c.name) }, c.name)),
            h("td", {}, fmtTime(c.startTime)), h("td", {}, liveDuration(c))))) : h("p", { class: "muted" }, "None yet.")));
    } else {
      parts.push(h("section", { id: "steps" }, h("h2", {}, "Steps"),
        d.steps.length ? table(["Status", "Step", "Reason", "Exit code", "Duration"], d.steps.map((st) =>
          h("tr", { "data-step": st.name, "data-status": st.status }, h("td", {}, badge(st.status)), h("td", {}, st.name),
            h("td", {}, st.reason || ""), h("td", {}, st.exitCode ?? ""), h("td", {}, fmtDuration(st.duration))))) : h("p", { class: "muted" }, "Not started yet.")));
    }
    parts.push(
      kvTable("Params", d.params.map((p) => h("tr", {}, h("td", {}, p.name), h("td", { class: "mono" }, valueText(p.value), p.default ? h("span", { class: "muted" }, " (default)") : null))), "params"),
      kvTable("Results", d.results.map((r) => h("tr", {}, h("td", {}, r.name), h("td", { class: "mono" }, valueText(r.value)))), "results"),
      kvTable("Workspaces", d.workspaces.map((w) => h("tr", {}, h("td", {}, w.name), h("td", {}, w.source), h("td", {}, w.subPath || ""))), "workspaces", ["Name", "Source", "subPath"]));
    let logs = document.getElementById("logs");
    body.replaceChildren(...parts);
    if (kind === "TaskRun" && d.can.logs) {
      if (!logs) logs = h("div", { class: "logs", id: "logs" });
      body.append(h("h2", {}, "Logs"), logs);
      if (!stopLogs) stopLogs = streamLogs(namespace, name, logs, gen);
    }
    if (lastStatus !== sm.status) loadProvenance();
    lastStatus = sm.status;
    if (done(sm.status)) {
      // Chains signs after the run ends: look again a few times
      clearInterval(timer);
      timer = setInterval(() => { load(); }, 5000);
      setTimeout(loadProvenance, 1500);
    }
  }

  load();
  timer = setInterval(load, 1500);
  return () => { clearInterval(timer); if (stopLogs) stopLogs(); };
}

// ---------------------------------------------------------------------------- router
function route() {
  generation += 1;
  if (view) view();
  view = null;
  if (!me) return;
  const path = location.hash.replace(/^#/, "").split("?")[0] || "/";
  const m = path.match(/^\/run\/([^/]+)\/(PipelineRun|TaskRun)\/([^/]+)$/);
  view = m ? runView(decodeURIComponent(m[1]), m[2], decodeURIComponent(m[3])) : listView();
}

async function start() {
  try {
    me = await api("api/whoami");
  } catch (e) {
    if (e.status !== 401) setMain(h("p", { class: "error" }, e.message));
    return;
  }
  who.replaceChildren(`${me.name} (${me.role})`);
  if (me.authEnabled) who.append(h("button", { id: "logout", onclick: logout }, "Log out"));
  route();
}

window.addEventListener("hashchange", route);
start();
