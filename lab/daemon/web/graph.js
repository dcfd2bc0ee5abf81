// The lab's topology page: cytoscape.js draws the model of lab.scenario.graph (dagre lays it
// out left to right). Live (served by the controller at /lab/graph): the model comes from
// GET /lab/v1/graph and is kept current from GET /lab/v1/events (NDJSON read with fetch()
// streaming): a status event recolours its edge at once, then the model is fetched again.
// Self-contained (`interlink-lab graph --format html`): window.ILAB_GRAPH holds the model.
(function () {
  "use strict";
  const GRAPH_URL = "/lab/v1/graph";
  const EVENTS_URL = "/lab/v1/events";
  const FIELDS = { status: [null], bgp_v4_status: ["ipv4"], bgp_v6_status: ["ipv6"] };
  const RETRY_MS = 1000;
  const REFRESH_MS = 300;

  let model = null;
  let cy = null;
  let statusSeen = 0; // status events shown: a model fetched meanwhile may be older
  let refreshTimer = null;

  function colourOf(edge) {
    const table = model.colours[edge.kind] || {};
    return table[edge.status] || model.colours.other;
  }

  function edgeText(edge) {
    return edge.status == null ? edge.label : edge.label + " · " + edge.status;
  }

  function nodeSize(label) {
    const lines = label.split("\n");
    const widest = Math.max.apply(null, lines.map(function (l) { return l.length; }));
    return { w: Math.max(90, widest * 6.2 + 18), h: lines.length * 13 + 14 };
  }

  function elements(m) {
    const out = [];
    m.sides.forEach(function (s) {
      out.push({ group: "nodes", data: { id: "side:" + s.id, label: s.label }, classes: "side" });
    });
    m.nodes.forEach(function (n) {
      const size = nodeSize(n.label);
      out.push({ group: "nodes", classes: "node " + n.role, data: {
        id: "node:" + n.id, parent: "side:" + n.side, label: n.label, fill: n.fill,
        w: size.w, h: size.h } });
    });
    m.edges.forEach(function (e) {
      out.push({ group: "edges", classes: e.kind, data: {
        id: e.id, source: "node:" + e.source, target: "node:" + e.target,
        label: edgeText(e), colour: colourOf(e) } });
    });
    return out;
  }

  const STYLE = [
    { selector: "node.node", style: {
      shape: "round-rectangle", "background-color": "data(fill)", "border-width": 1,
      "border-color": "#546e7a", label: "data(label)", "text-wrap": "wrap",
      "text-valign": "center", "text-halign": "center", "font-size": 10,
      width: "data(w)", height: "data(h)" } },
    { selector: "node.side", style: {
      label: "data(label)", "text-valign": "top", "text-halign": "center", "font-size": 12,
      "background-color": "#fafafa", "border-style": "dashed", "border-color": "#b0bec5",
      padding: 14, shape: "round-rectangle" } },
    { selector: "edge", style: {
      "curve-style": "bezier", "control-point-step-size": 46, label: "data(label)",
      "font-size": 9, "line-color": "data(colour)", color: "data(colour)",
      "text-background-color": "#ffffff", "text-background-opacity": 0.85,
      "text-background-padding": 2 } },
    { selector: "edge.wire", style: { width: 1, color: "#455a64" } },
    { selector: "edge.interlink", style: { width: 5 } },
    { selector: "edge.bgp", style: { width: 2, "line-style": "dashed" } },
  ];

  function layout() {
    // cytoscape-dagre registered itself with window.cytoscape when it loaded.
    cy.layout({ name: "dagre",
      rankDir: "LR", nodeSep: 30, rankSep: 60, edgeSep: 20, padding: 20,
      // Only the wires rank the nodes; InterLinks and sessions follow them.
      minLen: function (e) { return e.hasClass("wire") ? 1 : 0; },
      edgeWeight: function (e) { return e.hasClass("wire") ? 1 : 0; },
      directed: true, animate: false }).run();
  }

  function draw(m) {
    if (model !== null) { // keep when a shown status changed (the rows say it)
      const old = new Map(model.edges.map(function (e) { return [e.id, e]; }));
      m.edges.forEach(function (e) {
        const before = old.get(e.id);
        if (before && before.status === e.status && before.changedAt) {
          e.changedAt = before.changedAt;
          e.eventTime = before.eventTime;
        }
      });
    }
    model = m;
    document.getElementById("title").textContent =
      m.lab + " (" + m.scenario + ")" + (m.live ? "" : ", no status");
    if (cy === null) {
      cy = cytoscape({ container: document.getElementById("graph"), elements: elements(m),
        style: STYLE, wheelSensitivity: 0.3, autoungrabify: false });
      layout();
    } else if (sameShape(m)) {
      m.edges.forEach(paintEdge);
    } else {
      cy.elements().remove();
      cy.add(elements(m));
      layout();
    }
    table();
    legend();
  }

  function sameShape(m) {
    const ids = new Set(cy.elements().map(function (e) { return e.id(); }));
    const want = elements(m).map(function (e) { return e.data.id; });
    return want.length === ids.size && want.every(function (id) { return ids.has(id); });
  }

  function paintEdge(e) {
    const el = cy.getElementById(e.id);
    if (el.nonempty()) el.data({ label: edgeText(e), colour: colourOf(e) });
  }

  // The side table: one row per InterLink and per session; the DOM a browser test reads.
  function table() {
    const body = document.getElementById("links");
    const rows = model.edges.filter(function (e) { return e.kind !== "wire"; });
    body.replaceChildren.apply(body, rows.map(function (e) {
      const tr = document.createElement("tr");
      tr.id = "row:" + e.id;
      tr.dataset.edge = e.id;
      tr.dataset.kind = e.kind;
      tr.dataset.status = e.status == null ? "unknown" : e.status;
      if (e.changedAt) tr.dataset.changedAt = String(e.changedAt);
      if (e.eventTime) tr.dataset.eventTime = String(e.eventTime);
      const what = document.createElement("td");
      what.textContent = e.label;
      const st = document.createElement("td");
      st.className = "status";
      st.textContent = e.status == null ? "-" : e.status;
      st.style.color = colourOf(e);
      tr.append(what, st);
      return tr;
    }));
  }

  function legend() {
    const box = document.getElementById("legend");
    const items = [];
    Object.keys(model.colours.interlink).forEach(function (k) {
      items.push(["InterLink " + k, model.colours.interlink[k]]);
    });
    Object.keys(model.colours.bgp).forEach(function (k) {
      items.push(["BGP " + k, model.colours.bgp[k]]);
    });
    items.push(["other / unknown", model.colours.other]);
    box.replaceChildren.apply(box, items.map(function (it) {
      const span = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.background = it[1];
      span.append(swatch, it[0]);
      return span;
    }));
  }

  function say(text) { document.getElementById("message").textContent = text || ""; }

  function setStream(state, text) {
    const el = document.getElementById("stream");
    el.dataset.state = state;
    el.textContent = text;
  }

  async function fetchModel() {
    const resp = await fetch(GRAPH_URL, { cache: "no-store", credentials: "same-origin" });
    if (resp.status === 401) throw new Error("not authorised: open the address `interlink-lab graph --url` prints");
    if (!resp.ok) throw new Error(GRAPH_URL + ": HTTP " + resp.status);
    return resp.json();
  }

  async function refresh() {
    const seen = statusSeen;
    try {
      const m = await fetchModel();
      if (seen !== statusSeen) { scheduleRefresh(); return; } // older than a status shown
      draw(m);
      say("");
    } catch (err) {
      say(err.message);
    }
  }

  // At most one fetch per REFRESH_MS however many events come (routes can be thousands).
  function scheduleRefresh() {
    if (refreshTimer !== null) return;
    refreshTimer = setTimeout(function () { refreshTimer = null; refresh(); }, REFRESH_MS);
  }

  function onEvent(ev) {
    if (ev.type !== "status" || model === null || !(ev.field in FIELDS)) {
      scheduleRefresh(); // another kind (a link added, a VPC attached) may change the model
      return;
    }
    const family = FIELDS[ev.field][0];
    let known = false;
    model.edges.forEach(function (e) {
      if (e.link_id !== ev.link_id) return;
      known = true;
      if (family === null ? e.kind !== "interlink" : (e.kind !== "bgp" || e.family !== family)) return;
      e.status = ev.new;
      e.changedAt = Date.now();
      e.eventTime = ev.time;
      paintEdge(e);
    });
    statusSeen += 1;
    table();
    if (!known) scheduleRefresh(); // a link the model does not have yet
  }

  async function follow() {
    for (;;) {
      try {
        const resp = await fetch(EVENTS_URL, { cache: "no-store", credentials: "same-origin" });
        if (!resp.ok) throw new Error(EVENTS_URL + ": HTTP " + resp.status);
        setStream("connected", "live");
        // Subscribed once the headers are in: what changed before is in this model.
        await refresh();
        const reader = resp.body.getReader();
        const decoder = new TextDecoder();
        let buf = "";
        for (;;) {
          const chunk = await reader.read();
          if (chunk.done) break;
          buf += decoder.decode(chunk.value, { stream: true });
          let nl;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) onEvent(JSON.parse(line));
          }
        }
        setStream("reconnecting", "stream ended, reconnecting");
      } catch (err) {
        setStream("error", "events: " + err.message + " (retrying)");
      }
      await new Promise(function (r) { setTimeout(r, RETRY_MS); });
    }
  }

  window.ilabGraph = {
    get cy() { return cy; },
    get model() { return model; },
  };

  if (window.ILAB_GRAPH) {
    draw(window.ILAB_GRAPH);
  } else {
    follow();
  }
})();
