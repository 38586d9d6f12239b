// The FISSION dashboard: draws each snapshot the server pushes (server-sent events).
"use strict";

const cy = cytoscape({
  container: document.getElementById("graph"),
  style: [
    { selector: "node", style: { label: "data(label)", "text-valign": "center",
      "text-wrap": "wrap", "font-size": 10, "background-color": "#5b8def", color: "#111",
      shape: "round-rectangle", width: 110, height: 38 } },
    { selector: "node.machine", style: { "background-color": "#eef2f7", "border-color": "#99a",
      "border-width": 1, "text-valign": "top", "font-size": 11, "font-weight": "bold" } },
    { selector: "node.machine.down", style: { "border-color": "#c00", color: "#c00" } },
    { selector: "node.failed", style: { "background-color": "#e55" } },
    { selector: "node.moving", style: { "background-color": "#f0a030" } },
    { selector: "node.finished", style: { "background-color": "#aab" } },
    { selector: "edge", style: { label: "data(label)", "font-size": 9, width: 2,
      "curve-style": "bezier", "target-arrow-shape": "triangle", "line-color": "#789",
      "target-arrow-color": "#789", "text-background-color": "#fff",
      "text-background-opacity": 0.8 } },
    { selector: "edge.backing", style: { "line-color": "#d22", "target-arrow-color": "#d22",
      width: 5, color: "#d22" } },
  ],
  layout: { name: "grid" },
});
let shape = "";

function text(value) { return value === undefined || value === null ? "" : String(value); }
function bytes(n) { return n ? (n / 2 ** 20).toFixed(1) + " MB" : ""; }
function perPipe(map) {
  return Object.entries(map).map(([pipe, n]) => pipe + ": " + n).join(", ");
}
function row(cells, classes) {
  const tr = document.createElement("tr");
  cells.forEach((cell, i) => {
    const td = document.createElement("td");
    td.textContent = text(cell);
    if (classes && classes[i]) td.className = classes[i];
    tr.appendChild(td);
  });
  return tr;
}

function drawGraph(snap) {
  const machines = new Set(snap.jobs.map((job) => job.node));
  const key = snap.jobs.map((job) => job.id + "@" + job.node).join(",");
  const elements = [];
  machines.forEach((m) => elements.push({ group: "nodes", data: { id: "m:" + m, label: m },
                                          classes: "machine" }));
  snap.jobs.forEach((job) => elements.push({ group: "nodes",
    data: { id: "j" + job.id, parent: "m:" + job.node, label: job.name } }));
  snap.pipes.forEach((pipe) => elements.push({ group: "edges",
    data: { id: "p" + pipe.id, source: "j" + pipe.from, target: "j" + pipe.to, label: "" } }));
  if (key !== shape) {  // a job moved, or the first snapshot: lay the graph out again
    cy.elements().remove();
    cy.add(elements);
    cy.layout({ name: "breadthfirst", directed: true, spacingFactor: 1.1, padding: 10 }).run();
    shape = key;
  }
  const down = new Set(snap.nodes.filter((n) => !n.up).map((n) => n.ip));
  machines.forEach((m) => cy.getElementById("m:" + m).toggleClass("down", down.has(m)));
  snap.jobs.forEach((job) => {
    const el = cy.getElementById("j" + job.id);
    el.data("label", job.name + "\n" + job.state + " · " + job.runs_per_s + " runs/s");
    ["failed", "moving", "finished"].forEach((s) => el.toggleClass(s, job.state === s));
  });
  snap.pipes.forEach((pipe) => {
    const el = cy.getElementById("p" + pipe.id);
    el.data("label", "pipe " + pipe.id + " · " + pipe.per_s + "/s" +
            (pipe.backlog ? " · " + pipe.backlog + " waiting" : ""));
    el.toggleClass("backing", pipe.backing_up);
  });
}

function drawJobs(snap) {
  const body = document.querySelector("#jobs tbody");
  const backing = new Set(snap.pipes.filter((p) => p.backing_up).map((p) => p.to));
  body.replaceChildren(...snap.jobs.map((job) => {
    const tr = row([job.id, job.name, job.node, job.state, job.runs, job.runs_per_s,
                    perPipe(job.blocks_in), perPipe(job.blocks_out), perPipe(job.waiting),
                    job.dummies, job.dropped, job.garbage, job.restarts, job.cpu_percent,
                    bytes(job.rss)],
                   [null, null, null, "state-" + job.state, null, null, null, null,
                    backing.has(job.id) ? "backing" : null]);
    tr.id = "job-" + job.id;
    return tr;
  }));
}

function drawNodes(snap) {
  // Under simulate every job runs on the client: there are no nodes to show.
  document.getElementById("nodes-box").hidden = snap.backend === "simulate";
  const body = document.querySelector("#nodes tbody");
  body.replaceChildren(...snap.nodes.map((n) => row(
    [n.ip, n.up ? "up" : "down", n.cpus, n.cpu === undefined ? "" : n.cpu.toFixed(0) + " %",
     bytes(n.memory), bytes(n.disk), n.swap === undefined ? "" : n.swap.toFixed(0) + " %",
     n.TQ, n.age + " s", n.jobs.join(", ")],
    [null, n.up ? null : "down"])));
}

function drawEvents(snap) {
  const list = document.getElementById("events");
  list.replaceChildren(...snap.events.slice(-100).reverse().map((e) => {
    const li = document.createElement("li");
    const when = new Date(e.time * 1000).toLocaleTimeString();
    const rest = Object.entries(e).filter(([k]) => !["time", "event"].includes(k))
      .map(([k, v]) => k + "=" + (typeof v === "object" ? JSON.stringify(v) : v)).join(" ");
    li.textContent = when + " " + e.event + " " + rest;
    return li;
  }));
}

function drawLines(snap) {
  const box = document.getElementById("lines");
  box.replaceChildren(...snap.jobs.filter((job) => job.lines.length).map((job) => {
    const pre = document.createElement("pre");
    pre.textContent = "[" + job.name + "]\n" + job.lines.slice(-5).join("\n");
    return pre;
  }));
}

function draw(snap) {
  document.getElementById("network").textContent = snap.network + " (" + snap.backend + ")";
  drawGraph(snap);
  drawJobs(snap);
  drawNodes(snap);
  drawEvents(snap);
  drawLines(snap);
}

const status = document.getElementById("status");
const stream = new EventSource("stream");
stream.onmessage = (message) => {
  status.textContent = "live · " + new Date().toLocaleTimeString();
  status.className = "";
  draw(JSON.parse(message.data));
};
stream.onerror = () => { status.textContent = "not connected (has the run ended?)";
                         status.className = "lost"; };
