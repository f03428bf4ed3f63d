// The Couler dashboard: a single page over the coordinator's read-only API.
//
//   #/                   workflows, failures first, refreshed every 2 s
//   #/wf/NAME            one workflow: its status and node tree
//   #/wf/NAME/NODE_ID    ... with that step's logs open
//   #/nodes              the agents: state, gossip, hardware, labels, steps
//
// Plain JavaScript with no dependencies and nothing fetched from elsewhere.
// Every piece of text from the API goes in through textContent, never as
// markup: workflow names, messages and logs are the users' own text.
"use strict";

const REFRESH_MS = 2000;
const DONE = new Set(["Succeeded", "Failed", "Error", "Skipped", "Omitted"]);
const BAD = new Set(["Failed", "Error"]);
// Failures first, then what is still going, then the rest.
const PHASE_RANK = { Failed: 0, Error: 0, Running: 1, Pending: 2 };

let clockSkewMs = 0; // the coordinator's clock minus ours (Date header)
let generation = 0; // bumped on every navigation: stale timers stop
let timer = null;

// ---- small helpers ---------------------------------------------------------

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null || kid === false) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}

function badge(phase, prefix) {
  const p = phase || "Unknown";
  return el("span", { class: "badge " + (prefix || "p-") + p, text: p });
}

function parseTime(s) {
  if (!s) return null;
  const t = Date.parse(s);
  return Number.isNaN(t) ? null : t;
}

function now() {
  return Date.now() + clockSkewMs;
}

function fmtDuration(ms) {
  if (ms === null || ms === undefined || ms < 0) return "";
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return d + "d " + h + "h";
  if (h > 0) return h + "h " + m + "m";
  if (m > 0) return m + "m " + s + "s";
  return s + "s";
}

function fmtAge(t) {
  return t === null ? "" : fmtDuration(now() - t) + " ago";
}

// Duration of something that started at `started` and ended at `finished`
// (still running when finished is empty).
function span(started, finished) {
  const a = parseTime(started);
  if (a === null) return "";
  const b = parseTime(finished);
  return fmtDuration((b === null ? now() : b) - a);
}

function fmtBytes(n) {
  if (!n) return "0";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)) + " " + units[i];
}

function setStatus(text) {
  document.getElementById("status").textContent = text;
}

function setBanner(text) {
  const b = document.getElementById("banner");
  b.textContent = text || "";
  b.hidden = !text;
}

async function fetchApi(path, asText) {
  let res;
  try {
    res = await fetch(path, { cache: "no-store" });
  } catch (e) {
    throw new Error("cannot reach the coordinator (" + e.message + ")");
  }
  const date = parseTime(res.headers.get("Date"));
  if (date !== null) clockSkewMs = date - Date.now();
  const body = await res.text();
  if (!res.ok) {
    let msg = body;
    try {
      msg = JSON.parse(body).error || body;
    } catch (e) {
      // a text body: shown as it is
    }
    const err = new Error(msg.trim() || res.status + " " + res.statusText);
    err.status = res.status;
    throw err;
  }
  return asText ? body : JSON.parse(body);
}

// Run `tick` now and every REFRESH_MS until the next navigation. A tick
// that fails shows the error and keeps the last good view on screen.
function poll(tick) {
  const gen = generation;
  const run = async () => {
    if (gen !== generation) return;
    try {
      await tick(gen);
      if (gen !== generation) return;
      setBanner("");
      setStatus("updated " + new Date().toLocaleTimeString());
    } catch (e) {
      if (gen !== generation) return;
      setBanner(e.message + " — retrying every " + REFRESH_MS / 1000 + " s");
      setStatus("stale");
    }
    if (gen === generation) timer = setTimeout(run, REFRESH_MS);
  };
  run();
}

function mount(...nodes) {
  const main = document.getElementById("main");
  main.replaceChildren(...nodes);
}

function workflowHref(name, node) {
  return "#/wf/" + encodeURIComponent(name) +
    (node ? "/" + encodeURIComponent(node) : "");
}

// ---- the workflow list -----------------------------------------------------

function sortWorkflows(list) {
  return list.slice().sort((a, b) => {
    const ra = PHASE_RANK[a.phase] ?? 3, rb = PHASE_RANK[b.phase] ?? 3;
    if (ra !== rb) return ra - rb;
    const ta = parseTime(a.createdAt) || 0, tb = parseTime(b.createdAt) || 0;
    return tb - ta || a.name.localeCompare(b.name);
  });
}

function viewWorkflows() {
  const filter = el("input", {
    type: "search",
    placeholder: "filter by name, phase or message",
    "aria-label": "filter workflows",
  });
  const counts = el("div", { class: "counts" });
  const table = el("div", { id: "workflows" });
  let last = [];
  const render = () => {
    const q = filter.value.trim().toLowerCase();
    const rows = sortWorkflows(last).filter((w) => !q ||
      (w.name + " " + w.phase + " " + (w.message || ""))
        .toLowerCase().includes(q));
    const byPhase = {};
    for (const w of last) byPhase[w.phase] = (byPhase[w.phase] || 0) + 1;
    counts.replaceChildren(...["Failed", "Error", "Running", "Pending",
      "Succeeded"].filter((p) => byPhase[p]).map((p) =>
      el("span", { class: "badge p-" + p, text: byPhase[p] + " " + p })));
    if (rows.length === 0) {
      table.replaceChildren(el("div", {
        class: "empty",
        text: last.length ? "No workflow matches the filter." :
          "No workflows yet. Submit one with: couler-coord submit FILE.yaml",
      }));
      return;
    }
    table.replaceChildren(el("table", {},
      el("thead", {}, el("tr", {},
        el("th", { text: "Name" }), el("th", { text: "Phase" }),
        el("th", { text: "Progress" }), el("th", { class: "num", text: "Age" }),
        el("th", { class: "num", text: "Duration" }),
        el("th", { text: "Message" }))),
      el("tbody", {}, rows.map((w) => el("tr", {
        class: BAD.has(w.phase) ? "failed" : null,
        "data-name": w.name,
      },
      el("td", {}, el("a", { href: workflowHref(w.name), text: w.name })),
      el("td", {}, badge(w.phase)),
      el("td", { class: "nowrap", text: w.progress || "" }),
      el("td", { class: "num", text: fmtAge(parseTime(w.createdAt)) }),
      el("td", { class: "num", text: span(w.startedAt, w.finishedAt) }),
      el("td", { class: "msg", text: w.message || "" }))))));
  };
  filter.addEventListener("input", render);
  mount(el("h1", { text: "Workflows" }),
    el("div", { class: "toolbar" }, filter, counts), table);
  poll(async (gen) => {
    const list = await fetchApi("api/workflows");
    if (gen !== generation) return;
    last = Array.isArray(list) ? list : [];
    render();
  });
}

// ---- one workflow ----------------------------------------------------------

// The node tree in display order: depth-first from the root (the node
// named like the workflow), children as listed; nodes no parent reaches
// (exit hooks, orphans) follow at the top level.
function treeOrder(wfName, nodes) {
  const out = [];
  const seen = new Set();
  const byId = nodes || {};
  const visit = (id, depth) => {
    const n = byId[id];
    if (!n || seen.has(id)) return;
    seen.add(id);
    out.push({ node: n, depth });
    for (const k of n.children || []) visit(k, depth + 1);
  };
  const hasParent = new Set();
  for (const n of Object.values(byId))
    for (const k of n.children || []) hasParent.add(k);
  if (byId[wfName]) visit(wfName, 0);
  const rest = Object.values(byId)
    .filter((n) => !seen.has(n.id) && !hasParent.has(n.id))
    .sort((a, b) => (parseTime(a.startedAt) || 0) - (parseTime(b.startedAt) || 0));
  for (const n of rest) visit(n.id, 0);
  for (const id of Object.keys(byId)) visit(id, 0);
  return out;
}

function bindingText(b) {
  if (!b) return "";
  const parts = [];
  if (b.cpus) parts.push("cpus " + b.cpus);
  if (b.gpus && b.gpus.length)
    parts.push("gpus " + b.gpus.map((g) => g.index).join(","));
  if (b.memoryNodes && b.memoryNodes.length)
    parts.push("mem node " + b.memoryNodes.join(","));
  if (b.memoryLimit) parts.push("limit " + fmtBytes(b.memoryLimit));
  if (b.degree && b.degree > 1) parts.push("×" + b.degree);
  return parts.join(" · ");
}

function cacheTag(n) {
  const m = n.memoizationStatus;
  if (!m) return null;
  return m.hit ? el("span", { class: "tag cached", text: "cached",
    title: (m.cacheName ? m.cacheName + ": " : "") + (m.key || "") +
      (m.from ? " (from " + m.from + ")" : "") })
    : el("span", { class: "tag", text: "computed", title: m.key || "" });
}

function paramsList(title, params) {
  if (!params || !params.length) return [];
  return [el("dt", { text: title }), el("dd", {}, params.map((p) =>
    el("div", { class: "kv", text: p.name + " = " + p.value })))];
}

function stepDetails(n) {
  const dl = el("dl", {});
  const add = (k, v) => {
    if (v === undefined || v === null || v === "") return;
    dl.append(el("dt", { text: k }), el("dd", {}, v));
  };
  add("Phase", badge(n.phase));
  add("Template", n.templateName);
  add("Host", n.hostNodeName);
  add("Started", n.startedAt);
  add("Finished", n.finishedAt);
  add("Duration", span(n.startedAt, n.finishedAt));
  add("Binding", bindingText(n.binding));
  if (n.binding && n.binding.fit) add("Fit", n.binding.fit);
  add("Cache", cacheTag(n));
  if (n.outputs && n.outputs.exitCode !== undefined)
    add("Exit code", n.outputs.exitCode);
  if (n.outputs && n.outputs.result !== undefined)
    add("Result", el("div", { class: "kv", text: n.outputs.result }));
  dl.append(...paramsList("Inputs", n.inputs && n.inputs.parameters));
  dl.append(...paramsList("Outputs", n.outputs && n.outputs.parameters));
  add("Message", n.message);
  return dl;
}

function viewWorkflow(name, stepId) {
  const head = el("div", { class: "summary" });
  const tree = el("div", {});
  const details = el("div", { class: "body" });
  const logTitle = el("span", { text: "Logs" });
  const logs = el("pre", { class: "logs", id: "logs", text: "" });
  const allBtn = el("button", {
    type: "button", text: "all steps",
    onclick: () => { location.hash = workflowHref(name); },
  });
  const logPanel = el("div", { class: "panel" },
    el("h2", {}, logTitle, el("span", { class: "right" }, allBtn)),
    details, logs);
  mount(el("div", {}, el("a", { href: "#/", text: "← workflows" })), head,
    el("div", { class: "split" }, el("div", {}, el("h2", { text: "Steps" }),
      tree), logPanel));
  let lastLogs = null;
  let afterDone = 0; // log fetches since the run ended: a few, then stop

  const renderHead = (wf) => {
    const st = wf.status || {};
    const failed = BAD.has(st.phase);
    const dl = el("dl", {});
    const add = (k, v) => {
      if (v) dl.append(el("dt", { text: k }), el("dd", {}, v));
    };
    add("Created", (wf.metadata || {}).creationTimestamp);
    add("Started", st.startedAt);
    add("Finished", st.finishedAt);
    add("Duration", span(st.startedAt, st.finishedAt));
    add("Progress", st.progress);
    const args = ((wf.spec || {}).arguments || {}).parameters;
    if (args && args.length)
      add("Parameters", args.map((p) =>
        el("div", { class: "kv", text: p.name + " = " + p.value })));
    head.replaceChildren(...[
      el("h1", {}, name, " ", badge(st.phase)),
      st.message ? el("div", { class: "message" + (failed ? " bad" : ""),
        id: "wf-message", text: st.message }) : null,
      dl].filter(Boolean));
  };

  const renderTree = (wf) => {
    const nodes = (wf.status || {}).nodes || {};
    const order = treeOrder(name, nodes);
    if (!order.length) {
      tree.replaceChildren(el("div", { class: "empty", text: "No steps yet." }));
      return;
    }
    tree.replaceChildren(el("table", { id: "tree" },
      el("thead", {}, el("tr", {},
        el("th", { text: "Step" }), el("th", { text: "Phase" }),
        el("th", { class: "num", text: "Duration" }), el("th", { text: "Host" }),
        el("th", { text: "Binding" }), el("th", { text: "Cache" }),
        el("th", { text: "Message" }))),
      el("tbody", {}, order.map(({ node: n, depth }) => {
        const pod = n.type === "Pod";
        return el("tr", {
          class: [pod ? "clickable" : "", n.id === stepId ? "selected" : "",
            BAD.has(n.phase) && pod ? "failed" : ""].join(" ").trim() || null,
          "data-node": n.id,
          title: pod ? "show this step's logs" : null,
          onclick: pod ? () => { location.hash = workflowHref(name, n.id); }
            : null,
        },
        el("td", { class: "tree-name" },
          el("span", { class: "indent", text: "\u00a0\u00a0".repeat(depth) +
            (depth ? "└ " : "") }),
          n.displayName || n.name || n.id,
          el("span", { class: "kind", text: n.type || "" })),
        el("td", {}, badge(n.phase)),
        el("td", { class: "num", text: span(n.startedAt, n.finishedAt) }),
        el("td", { class: "nowrap", text: n.hostNodeName || "" }),
        el("td", { class: "mono", text: bindingText(n.binding) }),
        el("td", {}, cacheTag(n)),
        el("td", { class: "msg", text: n.message || "" }));
      }))));
    const sel = stepId && nodes[stepId];
    logTitle.textContent = sel ? "Logs of " + (sel.displayName || sel.id) :
      "Logs of all steps (click a step for its own)";
    details.replaceChildren(...(sel ? [stepDetails(sel)] : []));
    details.hidden = !sel;
  };

  const renderLogs = (text) => {
    if (text === lastLogs) return;
    const atEnd = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
    lastLogs = text;
    logs.textContent = text || "(no output yet)";
    if (atEnd) logs.scrollTop = logs.scrollHeight;
  };

  poll(async (gen) => {
    let wf;
    try {
      wf = await fetchApi("api/workflows/" + encodeURIComponent(name));
    } catch (e) {
      if (e.status === 404) {
        if (gen !== generation) return;
        head.replaceChildren(el("h1", { text: name }),
          el("div", { class: "message bad", text: e.message }));
        tree.replaceChildren();
        return;
      }
      throw e;
    }
    if (gen !== generation) return;
    renderHead(wf);
    renderTree(wf);
    // Logs while the run goes on, and a few times after it ended (the
    // last lines of a step may land just after its phase).
    if (DONE.has((wf.status || {}).phase)) afterDone++;
    if (afterDone <= 3) {
      const text = await fetchApi("api/workflows/" + encodeURIComponent(name) +
        "/logs" + (stepId ? "?step=" + encodeURIComponent(stepId) : ""), true);
      if (gen !== generation) return;
      renderLogs(text);
    }
  });
}

// ---- nodes -----------------------------------------------------------------

function hardware(n) {
  const parts = [];
  if (n.packages) parts.push(n.packages + " pkg");
  if (n.numaNodes) parts.push(n.numaNodes + " NUMA");
  if (n.cores) parts.push(n.cores + " cores / " + n.pus + " PUs");
  if (n.memoryBytes) parts.push(fmtBytes(n.memoryBytes));
  parts.push((n.gpus || 0) + " GPU" + (n.gpus === 1 ? "" : "s"));
  return parts.join(" · ") + (n.pretended ? " (pretended topology)" : "");
}

function viewNodes() {
  const body = el("div", {});
  mount(el("h1", { text: "Nodes" }), body);
  poll(async (gen) => {
    const list = await fetchApi("api/nodes");
    if (gen !== generation) return;
    if (!list.length) {
      body.replaceChildren(el("div", { class: "empty",
        text: "No agent has registered yet." }));
      return;
    }
    const rank = { Lost: 0, NotReady: 1, Ready: 2 };
    const nodes = list.slice().sort((a, b) =>
      (rank[a.state] ?? 3) - (rank[b.state] ?? 3) ||
      a.name.localeCompare(b.name));
    body.replaceChildren(el("table", { id: "nodes" },
      el("thead", {}, el("tr", {},
        el("th", { text: "Name" }), el("th", { text: "State" }),
        el("th", { text: "Gossip" }), el("th", { text: "Hardware" }),
        el("th", { text: "Labels" }), el("th", { text: "Running steps" }))),
      el("tbody", {}, nodes.map((n) => el("tr", {
        class: n.state === "Lost" ? "failed" : null, "data-node": n.name,
      },
      el("td", { class: "nowrap" }, n.name),
      el("td", {}, badge(n.state, "s-")),
      el("td", {}, n.gossip ? el("span", {
        class: "badge g-" + n.gossip, text: n.gossip }) :
        el("span", { class: "muted", text: "—" })),
      el("td", {}, hardware(n), n.model ? el("details", {},
        el("summary", { text: "resource model" }),
        el("pre", { text: n.model })) : null),
      el("td", {}, Object.entries(n.labels || {}).sort().map(([k, v]) =>
        el("span", { class: "tag", text: k + "=" + v }))),
      el("td", {}, (n.running || []).length ? n.running.map((r) => {
        const slash = r.indexOf("/");
        const wf = slash > 0 ? r.slice(0, slash) : r;
        return el("div", {}, el("a", { href: workflowHref(wf), text: r }));
      }) : el("span", { class: "muted", text: "idle" })))))));
  });
}

// ---- routing ---------------------------------------------------------------

function route() {
  generation++;
  if (timer) clearTimeout(timer);
  timer = null;
  setBanner("");
  const hash = location.hash.replace(/^#/, "") || "/";
  const parts = hash.split("/").slice(1).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch (e) {
      return p;
    }
  });
  document.getElementById("nav-workflows").classList.toggle("active",
    parts[0] !== "nodes");
  document.getElementById("nav-nodes").classList.toggle("active",
    parts[0] === "nodes");
  if (parts[0] === "nodes") {
    document.title = "Nodes · Couler";
    viewNodes();
  } else if (parts[0] === "wf" && parts[1]) {
    document.title = parts[1] + " · Couler";
    viewWorkflow(parts[1], parts[2] || null);
  } else {
    document.title = "Workflows · Couler";
    viewWorkflows();
  }
}

window.addEventListener("hashchange", route);
route();
