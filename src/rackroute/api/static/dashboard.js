// rackroute dashboard: draws /api/events' fabric documents as SVG. Plain JavaScript, no library.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = {
  Established: "var(--established)",
  Idle: "var(--idle)",
  Connect: "var(--connecting)",
  Active: "var(--connecting)",
  OpenSent: "var(--connecting)",
  OpenConfirm: "var(--connecting)",
};
const NODE_W = 96, NODE_H = 34, NODE_GAP = 14, RACK_PAD = 18, SWITCH_W = 120, SWITCH_H = 38;
let fabric = null;
let selected = null;

function colour(state) { return COLOURS[state] || "var(--unknown)"; }

function el(name, attributes, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, content, attributes) {
  const node = el("text", Object.assign({ x, y, "text-anchor": "middle" }, attributes || {}), parent);
  node.textContent = content;
  return node;
}

function html(tag, content, attributes) {
  const node = document.createElement(tag);
  if (content !== undefined && content !== null) node.textContent = content;
  for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
  return node;
}

function layout(data) {
  // Racks side by side; each rack's ToRs above it; cores centred above the ToRs.
  const racks = data.racks.map((rack) => {
    const width = Math.max(SWITCH_W + 2 * RACK_PAD, rack.nodes.length * (NODE_W + NODE_GAP) - NODE_GAP + 2 * RACK_PAD);
    return { rack, width };
  });
  const positions = { switches: {}, nodes: {}, racks: [] };
  let x = 20;
  const placedOverRacks = (s) => s.role === "tor" && data.racks.some((r) => r.name === s.rack);
  const coreRow = data.switches.some((s) => !placedOverRacks(s));
  const torTop = coreRow ? 110 : 16;
  const rackTop = torTop + 100;
  positions.rackTop = rackTop;
  for (const { rack, width } of racks) {
    positions.racks.push({ name: rack.name, x, width });
    rack.nodes.forEach((node, index) => {
      positions.nodes[node.name] = { x: x + RACK_PAD + index * (NODE_W + NODE_GAP), y: rackTop + 34 };
    });
    const tors = data.switches.filter((s) => s.role === "tor" && s.rack === rack.name);
    tors.forEach((s, index) => {
      const span = width / (tors.length + 1);
      positions.switches[s.name] = { x: x + span * (index + 1) - SWITCH_W / 2, y: torTop };
    });
    x += width + 30;
  }
  const total = Math.max(x, 600);
  const others = data.switches.filter((s) => !positions.switches[s.name]);
  others.forEach((s, index) => {
    const span = total / (others.length + 1);
    positions.switches[s.name] = { x: span * (index + 1) - SWITCH_W / 2, y: 16 };
  });
  positions.width = total;
  positions.height = rackTop + 34 + NODE_H + 30;
  return positions;
}

function switchFor(data, session) {
  return data.switches.find((s) => s.address === session.peerAddress) ||
    data.switches.find((s) => s.name === session.peer);
}

function drawFabric(data) {
  const container = document.getElementById("fabric");
  const positions = layout(data);
  const svg = el("svg", { width: positions.width, height: positions.height, viewBox: `0 0 ${positions.width} ${positions.height}`, role: "img" });
  const links = el("g", { class: "links" }, svg);
  const sessions = el("g", { class: "sessions" }, svg);
  for (const rack of positions.racks) {
    const top = positions.rackTop - 10;
    el("rect", { class: "rack-box", "data-rack": rack.name, x: rack.x, y: top, width: rack.width, height: NODE_H + 64, rx: 6 }, svg);
    text(svg, rack.x + 10, top + 18, `rack ${rack.name}`, { class: "rack-label", "text-anchor": "start" });
  }
  for (const [core, tor] of data.links) {
    const a = positions.switches[core], b = positions.switches[tor];
    if (!a || !b) continue;
    el("line", { class: "link", x1: a.x + SWITCH_W / 2, y1: a.y + SWITCH_H, x2: b.x + SWITCH_W / 2, y2: b.y }, links);
  }
  for (const s of data.switches) {
    const p = positions.switches[s.name];
    const group = el("g", { class: `switch ${s.role}`, "data-switch": s.name, "data-role": s.role }, svg);
    el("rect", { x: p.x, y: p.y, width: SWITCH_W, height: SWITCH_H, rx: 4 }, group);
    const title = s.source === "lab" ? s.name : `${s.role === "tor" ? "ToR" : "peer"} ${s.address}`;
    text(group, p.x + SWITCH_W / 2, p.y + 16, title);
    text(group, p.x + SWITCH_W / 2, p.y + 30, s.asn ? `AS ${s.asn}` : "", { class: "asn" });
  }
  for (const rack of data.racks) {
    for (const node of rack.nodes) {
      const p = positions.nodes[node.name];
      node.sessions.forEach((session, index) => {
        const target = switchFor(data, session);
        if (!target) return;
        const q = positions.switches[target.name];
        const line = el("line", {
          class: "session",
          x1: p.x + NODE_W / 2 + (index - (node.sessions.length - 1) / 2) * 8, y1: p.y,
          x2: q.x + SWITCH_W / 2, y2: q.y + SWITCH_H,
          stroke: colour(session.shown),
          "data-node": node.name, "data-peer": session.peerAddress, "data-state": session.shown,
        }, sessions);
        el("title", {}, line).textContent = `${node.name} ↔ ${session.peer} (${session.peerAddress}): ${session.state}` +
          (session.lastError ? ` — ${session.lastError}` : "");
      });
      const classes = ["node"];
      if (node.stale) classes.push("stale");
      if (!node.ready) classes.push("not-ready");
      if (selected === node.name) classes.push("selected");
      const group = el("g", { class: classes.join(" "), "data-node": node.name, tabindex: 0 }, svg);
      el("rect", { x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: 4 }, group);
      text(group, p.x + NODE_W / 2, p.y + 15, node.name);
      text(group, p.x + NODE_W / 2, p.y + 28, `${node.podCount} ${node.podCount === 1 ? "pod" : "pods"}`, { class: "asn" });
      group.addEventListener("click", () => { selected = node.name; render(); });
    }
  }
  container.replaceChildren(svg);
}

function table(headers, rows) {
  const t = html("table");
  const head = t.createTHead().insertRow();
  for (const h of headers) head.appendChild(html("th", h));
  const body = t.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const cell of row) tr.appendChild(cell instanceof Node ? wrap(cell) : html("td", cell));
  }
  return t;
}

function wrap(node) { const td = html("td"); td.appendChild(node); return td; }

function list(items, empty) {
  if (!items.length) return html("p", empty, { class: "hint" });
  const ul = html("ul");
  for (const item of items) ul.appendChild(html("li", item));
  return ul;
}

function drawDetails(data) {
  const panel = document.getElementById("details");
  const node = data.racks.flatMap((r) => r.nodes).find((n) => n.name === selected);
  if (!node) { panel.hidden = true; panel.replaceChildren(); return; }
  panel.hidden = false;
  panel.dataset.node = node.name;
  const parts = [html("h3", `${node.name} (rack ${node.rack})`)];
  const facts = [`address ${node.address || "?"}`, node.ready ? "Ready" : "not Ready",
    node.stale ? "not reporting (stale NodeStatus)" : `heartbeat ${Math.round(node.heartbeatAge || 0)} s ago`];
  parts.push(html("p", facts.join(" · ")));
  parts.push(html("h4", "BGP sessions"));
  parts.push(table(["peer", "AS", "state", "rcvd", "sent", "last error"], node.sessions.map((s) => {
    const state = html("span", s.state, { class: "state", style: `color:${colour(s.shown)}` });
    return [`${s.peer} ${s.peerAddress !== s.peer ? s.peerAddress : ""}`, s.peerAS ?? "", state,
      s.prefixesReceived, s.prefixesAdvertised, s.lastError || ""];
  })));
  parts.push(html("h4", "Blocks"), list(node.blocks, "none"));
  parts.push(html("h4", "Pods"), list(node.pods.map((p) => `${p.namespace}/${p.pod} ${p.addresses.join(", ")}`), "none"));
  parts.push(html("h4", "Announced addresses"), list(node.addresses, "none"));
  parts.push(html("h4", "Routes from the fabric (next hop: same rack = node, other racks = ToR)"));
  parts.push(table(["prefix", "next hop", "from"], node.routes.map((r) => [r.prefix, `${r.nextHop} (${r.via})`, r.origin])));
  if (node.problems.length) parts.push(html("h4", "Problems"), list(node.problems, ""));
  panel.replaceChildren(...parts);
}

function drawIpam(data) {
  const rows = data.ipam.map((row) => {
    const div = html("div", null, { class: "bar-row", "data-pool": row.pool, "data-rack": row.rack });
    const share = row.capacity ? row.inUse / row.capacity : 0;
    div.appendChild(html("span", `${row.pool} · rack ${row.rack}`));
    const bar = html("div", null, { class: share >= 1 ? "bar full" : "bar", title: `${Math.round(share * 100)}%` });
    bar.appendChild(html("span", null, { style: `width:${Math.min(100, share * 100)}%` }));
    div.appendChild(bar);
    div.appendChild(html("span", `${row.inUse}/${row.capacity} addresses · ${row.blocks}/${row.poolBlocks} blocks`));
    return div;
  });
  document.getElementById("ipam").replaceChildren(...(rows.length ? rows : [html("p", "no blocks claimed yet", { class: "hint" })]));
}

function drawServices(data) {
  const body = document.querySelector("#services tbody");
  body.replaceChildren(...data.services.map((s) => {
    const tr = html("tr", null, { "data-service": `${s.namespace}/${s.name}` });
    tr.appendChild(html("td", `${s.namespace}/${s.name}`));
    tr.appendChild(html("td", s.ips.join(", ") || "—", { class: "ips" }));
    tr.appendChild(html("td", s.ips.length ? s.reason : `${s.reason}${s.message ? ": " + s.message : ""}`, { class: s.ips.length ? "" : "pending" }));
    tr.appendChild(html("td", s.pool));
    tr.appendChild(html("td", s.announcing.join(", ") || "—", { class: "announcing" }));
    return tr;
  }));
  document.getElementById("lb-pools").replaceChildren(...data.lbPools.map((p) =>
    html("p", `pool ${p.name}: ${p.inUse} of ${p.addresses} addresses in use`, { class: "hint" })));
}

function drawErrors(data) {
  document.getElementById("errors-section").hidden = !data.errors.length;
  document.getElementById("errors").replaceChildren(...data.errors.map((e) => html("li", e)));
}

function render() {
  if (!fabric) return;
  drawFabric(fabric);
  drawDetails(fabric);
  drawIpam(fabric);
  drawServices(fabric);
  drawErrors(fabric);
  const when = fabric.readAt ? new Date(fabric.readAt * 1000).toLocaleTimeString() : "—";
  const problem = fabric.datastore && fabric.datastore.error ? ` · datastore: ${fabric.datastore.error}` : "";
  const leader = fabric.leader ? ` · controller ${fabric.leader}` : "";
  document.getElementById("status").textContent =
    `${fabric.datastore ? fabric.datastore.url : ""} · revision ${fabric.revision} · read ${when}${leader}${problem}`;
  document.body.dataset.revision = String(fabric.revision);
}

function connect() {
  const events = new EventSource("/api/events");
  events.addEventListener("fabric", (event) => { fabric = JSON.parse(event.data); render(); });
  events.onopen = () => { document.body.dataset.live = "true"; };
  events.onerror = () => { document.body.dataset.live = "false"; };  // EventSource retries by itself
}

connect();
