// The orchestrator dashboard: plain JS and inline SVG, no libraries, no CDN.
// Every view polls the orchestrator's own read-only API and marks itself "live" once it has data.
// A key is asked for once and traded for an HttpOnly session cookie (POST /v1/session); the
// page never keeps the key. A key without customers:read sees every view but the Customer 360.
"use strict";

const POLL_MS = 3000;
const HISTORY = "/v1/dashboard/history";
let scopes = [];
let polling = null;
// One answer per path and refresh, shared by the views that read it.
let cycle = new Map();
// The department and segment shown, kept in the address (#department=sales&segment=...).
const chosen = new URLSearchParams(location.hash.slice(1));

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}
function svg(tag, attrs = {}, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = String(text);
  return node;
}
async function getJson(path) {
  const reply = await fetch(path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (reply.status === 401) showLogin("the session ended; sign in again");
  if (!reply.ok) throw new Error(`${path}: ${reply.status}`);
  return reply.json();
}
// The history changes once a sample (10 s): asked again only then, not at every refresh.
const HISTORY_MAX_AGE_MS = 10000;
let lastHistory = { at: 0, answer: null };
function shared(path) {
  if (!cycle.has(path)) {
    if (path === HISTORY && lastHistory.answer && Date.now() - lastHistory.at < HISTORY_MAX_AGE_MS) {
      cycle.set(path, lastHistory.answer);
    } else {
      const answer = getJson(path);
      if (path === HISTORY) {
        lastHistory = { at: Date.now(), answer };
        answer.catch(() => { lastHistory = { at: 0, answer: null }; });
      }
      cycle.set(path, answer);
    }
  }
  return cycle.get(path);
}
function mayReadCustomers() { return scopes.includes("customers:read"); }
function fmt(n, digits = 0) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en", {
    maximumFractionDigits: digits, minimumFractionDigits: digits });
}
function markLive(id, live) { document.getElementById(id).classList.toggle("live", live); }
function sum(obj) { return Object.values(obj || {}).reduce((a, b) => a + b, 0); }

// A horizontal bar chart; rows: [{label, value, low?, high?, colour?}].
function barChart(title, rows, unit = "", digits = 0) {
  const left = Math.max(110, 6 * Math.max(...rows.map(r => String(r.label).length)));
  const width = Math.max(left + 190, 7 * title.length), rowH = 22, height = rows.length * rowH + 26;
  const max = Math.max(1e-9, ...rows.map(r => Math.max(r.high ?? r.value ?? 0, r.value ?? 0)));
  const chart = svg("svg", { width, height, role: "img", "aria-label": title, class: "bar-chart" });
  chart.append(svg("text", { x: 0, y: 13, "font-size": 12, "font-weight": "bold" }, title));
  rows.forEach((r, i) => {
    const y = 22 + i * rowH, scale = (width - left - 50) / max;
    chart.append(svg("text", { x: 0, y: y + 13, "font-size": 11 }, r.label));
    chart.append(svg("rect", { x: left, y, height: rowH - 6, width: Math.max(1, (r.value ?? 0) * scale),
      fill: r.colour || "#457b9d", "data-label": r.label, "data-value": r.value ?? "" }));
    if (r.low !== undefined && r.low !== null) {  // an interval is drawn from 0 at the least
      const mid = y + (rowH - 6) / 2;
      chart.append(svg("line", { x1: left + Math.max(0, r.low) * scale, x2: left + r.high * scale, y1: mid, y2: mid,
        stroke: "#1d2733", "stroke-width": 1.5 }));
    }
    chart.append(svg("text", { x: left + (r.high ?? r.value ?? 0) * scale + 4, y: y + 13, "font-size": 11 },
      r.value === null || r.value === undefined ? "n/a" : fmt(r.value, digits) + unit));
  });
  return chart;
}

// A line over the samples (the last hour at most); points: [[unix seconds, value], ...]
// (increases or levels). The axis spans the samples there are, five minutes at the least.
function lineChart(title, points, { series = "", span = 3600, unit = "", digits = 0 } = {}) {
  const width = 300, height = 120, left = 44, top = 20, bottom = 16, plotW = width - left - 6;
  const plotH = height - top - bottom;
  const now = points.length ? points[points.length - 1][0] : Date.now() / 1000;
  span = Math.min(span, Math.max(300, points.length ? now - points[0][0] : 0));
  const max = Math.max(1e-9, ...points.map(p => p[1]));
  const total = points.reduce((a, p) => a + p[1], 0);
  const chart = svg("svg", { width, height, role: "img", "aria-label": title, class: "line-chart",
    "data-series": series, "data-points": points.length, "data-total": total });
  chart.append(svg("text", { x: 0, y: 12, "font-size": 11, "font-weight": "bold" }, title));
  chart.append(svg("text", { x: left - 4, y: top + 8, "font-size": 9, "text-anchor": "end" }, fmt(max, digits) + unit));
  chart.append(svg("text", { x: left - 4, y: top + plotH, "font-size": 9, "text-anchor": "end" }, "0"));
  chart.append(svg("text", { x: left, y: height - 2, "font-size": 9 }, `-${Math.round(span / 60)} min`));
  chart.append(svg("text", { x: width - 6, y: height - 2, "font-size": 9, "text-anchor": "end" }, "now"));
  chart.append(svg("rect", { x: left, y: top, width: plotW, height: plotH, fill: "#f8fafc", stroke: "#e3e7eb" }));
  const xy = ([t, v]) => [left + Math.max(0, (t - (now - span)) / span) * plotW, top + (1 - v / max) * plotH];
  if (points.length > 0) {
    const line = points.map(p => xy(p).map(n => n.toFixed(1)).join(",")).join(" ");
    const [firstX] = xy(points[0]), [lastX] = xy(points[points.length - 1]);
    chart.append(svg("polygon", { points: `${firstX},${top + plotH} ${line} ${lastX},${top + plotH}`,
      fill: "#a8dadc", opacity: 0.6 }));
    chart.append(svg("polyline", { points: line, fill: "none", stroke: "#1d3557", "stroke-width": 1.2 }));
  } else {
    chart.append(svg("text", { x: left + 8, y: top + plotH / 2, "font-size": 10, fill: "#8a94a0" },
      "no samples yet"));
  }
  return chart;
}

async function refreshFlow() {
  const [flow, history] = await Promise.all([shared("/v1/dashboard/flow"), shared(HISTORY)]);
  const departments = new Set([...Object.keys(flow.events_in), ...Object.keys(flow.actions_out)]);
  const per = history.departments || {};
  const rows = document.getElementById("flow-rows");
  rows.replaceChildren();
  for (const d of [...departments].sort()) {
    rows.append(el("tr", {}, el("td", {}, d), el("td", {}, fmt(flow.events_in[d] || 0)),
      el("td", {}, fmt(per[d]?.events_in_per_minute, 1)),
      el("td", {}, fmt(flow.actions_out[d] || 0)),
      el("td", {}, fmt(per[d]?.actions_out_per_minute, 1))));
  }
  const rates = history.rates;
  document.getElementById("flow-events").textContent = fmt(rates.events_in.per_minute, 1);
  document.getElementById("flow-actions").textContent = fmt(rates.actions_out.per_minute, 1);
  document.getElementById("flow-window").textContent = rates.events_in.per_minute === null
    ? "rates per minute: waiting for a second sample of the counters"
    : `per minute over the last ${fmt(rates.events_in.window_seconds)} s of samples, summed over ` +
      `${history.workers} worker(s); totals: this worker since it started`;
  document.getElementById("flow-dead").textContent = fmt(flow.dead_letters);
  document.getElementById("flow-lag").textContent = fmt(flow.lag);
  document.getElementById("flow-missed").textContent = fmt(sum(flow.deadlines_missed));
  // The departments' own contact requests, allowed and denied by reason.
  const asked = Object.entries(flow.contact_requests || {}).sort((a, b) => b[1] - a[1]);
  document.getElementById("flow-contacts").replaceChildren(...(asked.length ? [barChart(
    "departments' contact requests by verdict and reason",
    asked.map(([label, value]) => ({ label, value,
      colour: label.startsWith("deny") ? "#e63946" : "#2a9d8f" })))] : []));
  markLive("flow", sum(flow.events_in) > 0);
}

const HISTORY_SERIES = { events_in: "events in", actions_out: "actions out", declines: "declines",
  deadlines_missed: "deadlines missed", conflicting_contacts: "conflicting contacts" };

async function refreshHistory() {
  const history = await shared(HISTORY);
  const step = history.step_seconds, span = history.span_seconds;
  document.getElementById("history-note").textContent =
    `each point: the increase in ${step} s, summed over ${history.workers} worker(s); every ` +
    `worker keeps its own last ${fmt(span / 60)} min from its start (conflicting contacts are ` +
    "counted from the customers once a minute); Prometheus keeps the longer history";
  document.getElementById("history-charts").replaceChildren(
    ...Object.entries(HISTORY_SERIES).map(([key, label]) => lineChart(
      `${label}: ${fmt(history.hour[key])} in the hour, ${fmt(history.rates[key].per_minute, 1)}/min`,
      history.series[key], { series: key, span })));
  markLive("history", history.hour.events_in > 0);
}

// Hand-offs (a play's action: its deadline) missed against those set in the process view's
// window, and the open ones past their SLA now, furthest past first.
async function refreshDeadlines() {
  const [view, history] = await Promise.all([shared("/v1/processes"), shared(HISTORY)]);
  const scale = view.time_scale;
  let set = 0, missed = 0, overdue = 0;
  const late = [];
  for (const p of view.processes) {
    set += p.open + p.ended;
    missed += p.open_overdue + p.ended - p.within_sla;
    overdue += p.open_overdue;
    late.push(...p.oldest_open.filter(o => o.overdue_seconds > 0));
  }
  late.sort((a, b) => b.overdue_seconds - a.overdue_seconds);
  document.getElementById("deadlines-share").textContent = set ? `${fmt(missed / set * 100, 1)} %` : "–";
  document.getElementById("deadlines-share").dataset.set = set;
  document.getElementById("deadlines-missed").textContent = fmt(missed);
  document.getElementById("deadlines-set").textContent = fmt(set);
  document.getElementById("deadlines-overdue").textContent = fmt(overdue);
  document.getElementById("deadlines-note").textContent =
    `hand-offs open now or taken up in the last ${view.window}; missed: past their SLA, open or ` +
    `taken up late. Actions past their deadline in the last hour: ${fmt(history.hour.deadlines_missed)} ` +
    `of ${fmt(history.hour.actions_out)} sent. Overdue now (the ${fmt(late.length)} among the ` +
    "oldest open of each process):";
  const rows = document.getElementById("overdue-rows");
  rows.replaceChildren(...late.map(o => el("tr", { "data-overdue-seconds": o.overdue_seconds },
    el("td", {}, o.handoff), el("td", {}, `${o.from_department} → ${o.to_department}`),
    el("td", {}, o.customer_id ?? "–"), el("td", {}, customerTime(o.age_seconds, scale)),
    el("td", { class: "flag" }, customerTime(o.overdue_seconds, scale)))));
  markLive("deadlines", set > 0);
}

function fillSelect(id, options, wanted) {
  const select = document.getElementById(id);
  const values = options.map(([value]) => value);
  const keep = values.includes(select.value) ? select.value : (values.includes(wanted) ? wanted : values[0]);
  if (select.options.length !== options.length || [...select.options].some((o, i) => o.value !== values[i])) {
    select.replaceChildren(...options.map(([value, label]) => el("option", { value }, label)));
  }
  if (keep !== undefined) select.value = keep;
  return select.value;
}

// One department: its open hand-offs within and past their SLA, how fast it takes work up,
// and why it declines.
async function refreshDepartment() {
  const [history, view, { plays }] = await Promise.all([shared(HISTORY), shared("/v1/processes"), shared("/v1/plays")]);
  const names = new Set([...Object.keys(history.departments),
    ...view.processes.map(p => p.owner.department)]);
  const d = fillSelect("department-select", [...names].sort().map(n => [n, n]), chosen.get("department"));
  if (!d) return;
  const scale = view.time_scale;
  let open = 0, pastSla = 0;
  const aging = [];
  for (const p of view.processes.filter(p => p.owner.department === d)) {
    for (const h of p.handoffs) {
      open += h.open;
      pastSla += h.open_overdue;
      aging.push({ label: `${h.handoff}: within SLA`, value: h.open - h.open_overdue, colour: "#2a9d8f" },
        { label: `${h.handoff}: past SLA`, value: h.open_overdue, colour: "#e63946" });
    }
  }
  const figures = history.departments[d] || {};
  document.getElementById("department-open").textContent = `${fmt(open)} (${fmt(pastSla)})`;
  document.getElementById("department-ack").textContent = figures.acknowledged
    ? `${customerTime(figures.acknowledge_p50_seconds, scale)} / ${customerTime(figures.acknowledge_p90_seconds, scale)}`
    : "–";
  document.getElementById("department-declines").textContent =
    `${fmt(figures.declines)} / ${fmt(figures.actions_out)}`;
  document.getElementById("department-missed").textContent = fmt(figures.deadlines_missed);
  document.getElementById("department-aging").replaceChildren(barChart(
    `${d}: open hand-offs it receives`, aging.length ? aging : [{ label: "receives no hand-off", value: null }]));
  const reasons = new Map();
  for (const p of plays) {
    for (const r of p.declines_by_department_and_reason.filter(r => r.department === d)) {
      const entry = reasons.get(r.reason) || { count: 0, plays: new Set() };
      entry.count += r.count;
      entry.plays.add(p.name);
      reasons.set(r.reason, entry);
    }
  }
  const body = document.getElementById("department-reasons");
  body.replaceChildren(...[...reasons].sort((a, b) => b[1].count - a[1].count).map(([reason, e]) =>
    el("tr", { "data-reason": reason }, el("td", {}, reason), el("td", {}, fmt(e.count)),
      el("td", {}, [...e.plays].join(", ")))));
  if (!reasons.size) body.append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, "no declines")));
  document.getElementById("department").dataset.department = d;
  markLive("department", (figures.events_in || 0) + (figures.actions_out || 0) + open > 0);
}

// One segment, as its manager sees it: members, budget spent over the last hour, its plays.
async function refreshSegment() {
  const [segments, funnel, history, { plays }] = await Promise.all([shared("/v1/segments"),
    shared("/v1/dashboard/funnel"), shared(HISTORY), shared("/v1/plays")]);
  const list = segments.segments;
  const budgeted = list.find(s => s.budget) || list[0];
  const id = fillSelect("segment-select", list.map(s => [s.segment_id, s.name]),
    chosen.get("segment") || budgeted?.segment_id);
  const s = list.find(x => x.segment_id === id);
  if (!s) return;
  document.getElementById("segment-manager").textContent =
    `manager: ${s.manager.display_name || s.manager.owner_id}; members: ${s.expression}`;
  document.getElementById("segment-members").textContent = fmt(s.members);
  const spent = funnel.segment_spend_minor[id] || 0;
  document.getElementById("segment-spent").textContent = fmt(spent / 100);
  document.getElementById("segment-budget").textContent = s.budget ? fmt(s.budget.amount_minor / 100) : "none";
  document.getElementById("segment-spend-chart").replaceChildren(lineChart(
    s.budget ? "budget spent, current period (EUR)" : "no budget: nothing is charged",
    history.segments_spent[id] || [], { series: "spent", span: history.span_seconds }));
  const byId = new Map(plays.map(p => [p.play_id, p]));
  const open = Object.entries(funnel.segment_open_actions[id] || {}).sort((a, b) => b[1] - a[1]);
  document.getElementById("segment-plays").replaceChildren(...open.map(([play, n]) => {
    const p = byId.get(play);
    return el("tr", { "data-play": play }, el("td", {}, p ? p.name : play), el("td", {}, fmt(n)),
      el("td", {}, p ? `${fmt(p.decline_rate * 100)} %` : "–"),
      el("td", { class: p?.flagged ? "flag" : "" }, p?.flagged ? "flagged" : ""));
  }));
  document.getElementById("segment").dataset.segment = id;
  markLive("segment", s.members > 0);
}

for (const [id, key] of [["department-select", "department"], ["segment-select", "segment"]]) {
  document.getElementById(id).addEventListener("change", event => {
    chosen.set(key, event.target.value);
    window.history.replaceState(null, "", `#${chosen}`);
    cycle = new Map();
    (key === "department" ? refreshDepartment() : refreshSegment()).catch(() => {});
  });
}

// Spent against the budget: a bar, the amount and the share; over budget, promotions stop.
function budgetSpent(spentMinor, budget) {
  if (!budget) return el("td", { "data-spent-minor": spentMinor }, fmt(spentMinor / 100));
  const share = budget.amount_minor > 0 ? spentMinor / budget.amount_minor : 1;
  const over = spentMinor >= budget.amount_minor;
  const bar = el("span", { class: "budget-bar" },
    el("span", { style: `width: ${Math.min(100, share * 100).toFixed(0)}%` }));
  return el("td", { class: over ? "over-budget" : "", "data-spent-minor": spentMinor,
    title: over ? "budget spent: promotions suppressed" : "" },
    bar, ` ${fmt(spentMinor / 100)} (${fmt(share * 100)} %)`);
}

// Plays active for a segment: each play with actions open or accepted for its members now
// (the three with most open actions shown, all of them in the tooltip).
function activePlays(openByPlay) {
  const plays = Object.entries(openByPlay).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const named = plays.map(([play, n]) => `${play} (${fmt(n)})`);
  const more = plays.length > 3 ? `, +${plays.length - 3} more` : "";
  return el("td", { class: "active-plays", "data-plays": plays.length, title: named.join(", ") },
    plays.length ? `${plays.length}: ${named.slice(0, 3).join(", ")}${more}` : "–");
}

async function refreshFunnel() {
  const [funnel, segments] = await Promise.all([shared("/v1/dashboard/funnel"), shared("/v1/segments")]);
  const order = ["engage", "transact", "fulfil", "service"];
  const stages = Object.keys(funnel.stages).sort((a, b) => order.indexOf(a) - order.indexOf(b));
  const rows = stages.map(s => ({ label: s,
    value: (funnel.stages[s].active || 0) + (funnel.stages[s].completed || 0) }));
  document.getElementById("funnel-chart").replaceChildren(barChart("customers reaching each stage", rows));
  const body = document.getElementById("segment-rows");
  body.replaceChildren();
  for (const s of segments.segments) {
    body.append(el("tr", {}, el("td", {}, s.name), el("td", {}, s.manager.display_name || s.manager.owner_id),
      el("td", {}, fmt(s.members)), el("td", {}, fmt((funnel.segment_value_minor[s.segment_id] || 0) / 100)),
      el("td", {}, s.budget ? fmt(s.budget.amount_minor / 100) : "–"),
      budgetSpent(funnel.segment_spend_minor[s.segment_id] || 0, s.budget),
      activePlays(funnel.segment_open_actions[s.segment_id] || {})));
  }
  markLive("funnel", rows.some(r => r.value > 0));
}

async function refreshPlays() {
  const { plays } = await shared("/v1/plays");
  const body = document.getElementById("play-rows");
  body.replaceChildren();
  for (const p of plays) {
    const reasons = p.declines_by_department_and_reason.slice(0, 2)
      .map(d => `${d.department}: ${d.reason} (${d.count})`).join("; ");
    body.append(el("tr", {}, el("td", {}, p.name), el("td", {}, fmt(p.emitted)), el("td", {}, fmt(p.accepted)),
      el("td", {}, fmt(p.completed)), el("td", {}, fmt(p.declined)), el("td", {}, fmt(p.decline_rate * 100, 0) + " %"),
      el("td", {}, reasons || "–"), el("td", { class: p.flagged ? "flag" : "" }, p.flagged ? "flagged" : "")));
  }
  markLive("plays", plays.some(p => p.emitted > 0));
}

async function refreshRecent() {
  if (!mayReadCustomers()) return;
  const { customers } = await getJson("/v1/dashboard/customers");
  const chips = document.getElementById("recent");
  chips.replaceChildren(el("span", { class: "muted" }, "recent: "));
  for (const c of customers.slice(0, 12)) {
    const button = el("button", { type: "button", "data-customer": c.customer_id }, c.identifiers[0] || c.customer_id);
    button.addEventListener("click", () => showCustomer(c.customer_id));
    chips.append(button);
  }
}

// What was typed goes to the API as it is: it tries a bare key as a customer id and as each
// department system's id, and reads a bare e-mail or +phone as one (api.lookup_keys).
async function showCustomer(key) {
  const card = document.getElementById("customer-card");
  try {
    await renderCustomer(card, key.trim());
  } catch (error) {  // say so rather than leave the last answer standing
    card.replaceChildren(el("p", { class: "muted", id: "customer-missing" },
      `customer "${key.trim()}" unavailable: ${error.message}`));
  }
}

async function renderCustomer(card, key) {
  const reply = await fetch(`/v1/customers/${encodeURIComponent(key)}`,
    { headers: { Accept: "application/json" }, credentials: "same-origin" });
  if (!reply.ok) {
    const problem = await reply.json().catch(() => ({}));
    card.replaceChildren(el("p", { class: "muted", id: "customer-missing" },
      `no customer found for "${key}": ${problem.detail || reply.status}`));
    return;
  }
  const customer = await reply.json();
  // The rest by the customer id found: the same customer, whichever key was typed.
  const byId = `/v1/customers/customer_id:${encodeURIComponent(customer.customer_id)}`;
  const [decisions, timeline] = await Promise.all([getJson(`${byId}/decisions`), getJson(`${byId}/timeline`)]);
  const open = Object.values(customer.open_actions || {}).filter(a => ["open", "accepted"].includes(a.status));
  const owner = customer.owner ? `${customer.owner.department} / ${customer.owner.owner_id}` : "none";
  const health = `open cases ${Object.keys(customer.open_cases || {}).length}, CSAT ${customer.last_csat ?? "–"}, NPS ${customer.last_nps ?? "–"}`;
  const why = el("div", {});
  for (const d of decisions.decisions.slice(-5).reverse()) {
    const list = el("ul", { class: "why" });
    for (const c of d.candidates) {
      list.append(el("li", {}, el("span", { class: `verdict-${c.verdict}` }, c.verdict), ` ${c.play_id}: ${c.action_type.split(".").slice(-3, -1).join(".")}`,
        ` (score ${fmt(c.score, 2)}) — ${c.reason}`));
    }
    why.append(el("div", { class: "why" }, `${d.trigger_event_type.split(".").slice(2, -1).join(".")}${d.control_group ? " — control group" : ""}`));
    if (d.facts) {  // kept for the last few decisions with a chosen action
      why.append(el("p", { class: "facts" }, "facts: ",
        Object.entries(d.facts).map(([k, v]) =>
          `${k} ${typeof v === "number" ? fmt(v, 2) : String(v).replaceAll(",", ", ")}`).join("; ")));
    }
    why.append(list);
  }
  const events = el("ul", { class: "why" });
  for (const t of timeline.timeline.slice(-10).reverse()) events.append(el("li", {}, `${t.at.slice(0, 19)} ${t.summary}`));
  card.replaceChildren(
    el("h3", { id: "customer-id" }, customer.customer_id),
    el("p", {}, `identifiers: ${customer.identifiers.map(i => `${i.kind}:${i.value}`).join(", ")}`),
    el("p", {}, `value: revenue ${fmt(customer.revenue_to_date_minor / 100)} ${customer.currency || ""}, predicted LTV ${fmt(customer.predicted_ltv_minor / 100)}`),
    el("p", {}, `health: ${health}; owner: ${owner}; segments: ${customer.segments.join(", ") || "none"}`),
    el("p", {}, `open actions: ${open.map(a => `${a.action_type.split(".").slice(-3, -1).join(".")} (${a.status})`).join(", ") || "none"}`),
    el("h3", {}, "Why: decisions, candidates and why they lost"), why,
    el("h3", {}, "Timeline"), events);
  markLive("customer", true);
}

// A real duration in the customers' time (the report's time scale): minutes, hours or days.
function customerTime(seconds, timeScale) {
  if (seconds === null || seconds === undefined) return "–";
  const hours = seconds * timeScale / 3600;
  if (hours < 1) return `${fmt(hours * 60, 0)} min`;
  return hours < 48 ? `${fmt(hours, 1)} h` : `${fmt(hours / 24, 1)} d`;
}

async function refreshProcesses() {
  const view = await shared("/v1/processes");
  const scale = view.time_scale;
  document.getElementById("process-note").textContent =
    `SLA attainment: hand-offs taken up within their SLA / all taken up in the last ${view.window}` +
    (scale === 1 ? "" : ` (the simulated company's time, ${fmt(scale)}x the wall clock)`);
  const rows = document.getElementById("process-rows");
  const offenders = document.getElementById("offender-rows");
  rows.replaceChildren();
  offenders.replaceChildren();
  for (const p of view.processes) {
    const oldest = new Map();
    for (const o of p.oldest_open) if (!oldest.has(o.handoff)) oldest.set(o.handoff, o.age_seconds);
    p.handoffs.forEach((h, i) => {
      const cells = i > 0 ? [] : [
        el("td", { rowspan: p.handoffs.length }, p.name),
        el("td", { rowspan: p.handoffs.length }, p.owner.display_name || p.owner.owner_id)];
      rows.append(el("tr", { "data-process": p.process, "data-handoff": h.handoff, "data-open": h.open,
          "data-ended": h.ended, "data-attainment": h.sla_attainment ?? "" }, ...cells,
        el("td", {}, `${h.handoff} → ${p.owner.department}`), el("td", {}, customerTime(h.sla_seconds, scale)),
        el("td", { class: h.open_overdue ? "flag" : "" }, `${fmt(h.open)} (${fmt(h.open_overdue)})`),
        el("td", {}, customerTime(oldest.get(h.handoff), scale)), el("td", {}, fmt(h.ended)),
        el("td", {}, h.sla_attainment === null ? "–" : `${fmt(h.sla_attainment * 100, 0)} %`)));
    });
    for (const o of p.worst_offenders) {
      // A key without customers:read gets no customer ids: nothing to open then.
      const button = o.customer_id === undefined ? "–" : el("button", { type: "button", class: "link" }, o.customer_id);
      if (o.customer_id !== undefined) button.addEventListener("click", () => showCustomer(`customer_id:${o.customer_id}`));
      offenders.append(el("tr", { "data-process": p.process }, el("td", {}, p.process), el("td", {}, o.handoff),
        el("td", {}, `${o.from_department} → ${o.to_department}`), el("td", {}, button),
        el("td", { class: "flag" }, customerTime(o.overdue_seconds, scale)),
        el("td", {}, o.open ? `open for ${customerTime(o.age_seconds, scale)}` : "taken up late")));
    }
  }
  markLive("processes", view.processes.some(p => p.open + p.ended > 0));
}

// Hand-off time per kind, treated against control: the median of each customer's first one.
function handoffKindsChart(t, c) {
  const rows = [];
  for (const kind of Object.keys(t.handoffs_by_kind)) {
    for (const [group, g, colour] of [["treated", t, undefined], ["control", c, "#adb5bd"]]) {
      const h = g.handoffs_by_kind[kind].hours;
      if (h.n === 0) continue;
      rows.push({ label: `${kind} ${group} (n ${fmt(h.n)})`, colour, value: h.median, low: h.low, high: h.high });
    }
  }
  if (!rows.length) rows.push({ label: "no hand-off taken up yet", value: null });
  return barChart("hand-off taken up, by kind (median, hours)", rows, " h", 1);
}

// Lead-to-sales hand-off: median with its 95 % interval, p90 and count in the labels.
function handoffChart(t, c) {
  const groups = [["treated", t.handoff_hours, undefined], ["control", c.handoff_hours, "#adb5bd"]];
  const medians = groups.map(([, h]) => h.median).filter(m => m !== null);
  // The live run's clock is compressed by the simulator's speed: small times read as minutes.
  const minutes = medians.length > 0 && Math.max(...medians) < 1;
  const scale = minutes ? 60 : 1, unit = minutes ? " min" : " h";
  const rows = groups.map(([label, h, colour]) => ({
    label: `${label} (n ${fmt(h.n)}${h.p90 === null ? "" : `, p90 ${fmt(h.p90 * scale, 1)}`})`, colour,
    value: h.median === null ? null : h.median * scale,
    low: h.low === null ? null : h.low * scale, high: h.high === null ? null : h.high * scale }));
  return barChart("hand-off to first sales contact (median)", rows, unit, 1);
}

// The simulator's own clock of each hand-off kind, coordinated against siloed.
function simHandoffKindsChart(sim, modes) {
  const kinds = [...new Set(modes.flatMap(m => Object.keys(sim[m].median_handoff_hours_by_kind || {})))].sort();
  const rows = kinds.flatMap(kind => modes.map(m => ({ label: `${kind} ${m}`,
    value: (sim[m].median_handoff_hours_by_kind || {})[kind] ?? null,
    colour: m === "siloed" ? "#e76f51" : "#2a9d8f" })));
  if (!rows.length) rows.push({ label: "no hand-off taken up yet", value: null });
  return barChart("hand-off taken up, by kind (median hours)", rows, " h", 1);
}

// Treated minus control per measure, with its 95 % interval; "significant" when the
// interval leaves out zero.
const LIFTS = { conversion_rate: ["conversion rate", 100, " pp", 1], churn_rate: ["churn rate", 100, " pp", 1],
  conflicting_contact_rate: ["customers with a conflicting contact", 100, " pp", 1],
  revenue_per_customer_eur: ["revenue per customer", 1, " €", 0],
  missed_deadlines_per_customer: ["missed deadlines per customer", 1, "", 2] };

function liftRows(report) {
  const signed = (v, scale, digits) => (v === null ? "–" : `${v > 0 ? "+" : ""}${fmt(v * scale, digits)}`);
  document.getElementById("lift-rows").replaceChildren(...Object.entries(LIFTS).map(([m, [label, scale, unit, digits]]) => {
    const lift = report.lift[m], t = report.groups.treated[m], c = report.groups.control[m];
    return el("tr", { "data-measure": m, "data-lift": lift.value ?? "" }, el("td", {}, label),
      el("td", {}, t.value === null ? "–" : fmt(t.value * scale, digits)),
      el("td", {}, c.value === null ? "–" : fmt(c.value * scale, digits)),
      el("td", {}, lift.value === null ? "–" : signed(lift.value, scale, digits) + unit),
      el("td", {}, lift.low === null ? "–" : `${signed(lift.low, scale, digits)} to ${signed(lift.high, scale, digits)}${unit}`),
      el("td", { class: lift.significant ? "significant" : "muted" }, lift.value === null ? "" : (lift.significant ? "significant" : "holds 0")));
  }));
}

async function refreshProof() {
  const report = await getJson("/v1/reports/proof-of-value");
  const t = report.groups.treated, c = report.groups.control;
  document.getElementById("proof-note").textContent =
    `treated ${fmt(t.customers)} customers, control ${fmt(c.customers)} (share ${fmt(report.control_group_share * 100)} %); bars: value, whiskers: 95 % interval`;
  const pair = (measure, scale = 1) => [
    { label: "treated", value: t[measure].value === null ? null : t[measure].value * scale,
      low: t[measure].low === null ? null : t[measure].low * scale, high: t[measure].high === null ? null : t[measure].high * scale },
    { label: "control", colour: "#adb5bd", value: c[measure].value === null ? null : c[measure].value * scale,
      low: c[measure].low === null ? null : c[measure].low * scale, high: c[measure].high === null ? null : c[measure].high * scale }];
  document.getElementById("proof-charts").replaceChildren(
    barChart("conversion rate", pair("conversion_rate", 100), " %", 1),
    barChart("churn rate", pair("churn_rate", 100), " %", 1),
    barChart("revenue per customer", pair("revenue_per_customer_eur"), " €"),
    barChart("customers with a conflicting contact", pair("conflicting_contact_rate", 100), " %", 1),
    barChart(`missed deadlines per customer (totals ${fmt(t.missed_deadlines)} / ${fmt(c.missed_deadlines)})`,
      pair("missed_deadlines_per_customer"), "", 2),
    handoffChart(t, c),
    handoffKindsChart(t, c));
  liftRows(report);
  const sim = report.simulation || {};
  const modes = Object.keys(sim);
  const sims = document.getElementById("sim-charts");
  if (!modes.length) {
    sims.replaceChildren(el("p", { class: "muted" }, "no simulator summaries yet (simulate --report-dir)"));
  } else {
    const rows = (key, scale = 1) => modes.map(m => ({ label: m, value: sim[m][key] === null ? null : sim[m][key] * scale,
      colour: m === "siloed" ? "#e76f51" : "#2a9d8f" }));
    sims.replaceChildren(
      barChart("conflicting contacts", rows("conflicting_contacts")),
      barChart("conversion (hot lead to deal)", rows("conversion_rate", 100), " %", 1),
      barChart("churn rate", rows("churn_rate", 100), " %", 1),
      barChart("revenue per customer", rows("revenue_per_customer_eur"), " €"),
      barChart("median hand-off (hours)", rows("median_handoff_hours"), " h", 1),
      simHandoffKindsChart(sim, modes));
  }
  markLive("proof", t.customers + c.customers > 0);
}

async function refresh() {
  cycle = new Map();
  const results = await Promise.allSettled([refreshFlow(), refreshHistory(), refreshDeadlines(),
    refreshFunnel(), refreshPlays(), refreshRecent(), refreshProcesses(), refreshProof(),
    refreshDepartment(), refreshSegment()]);
  const failed = results.filter(r => r.status === "rejected").length;
  document.getElementById("updated").textContent =
    `updated ${new Date().toLocaleTimeString()}${failed ? ` (${failed} view(s) unavailable)` : ""}`;
}

// Without customers:read the Customer 360 says so; the other views work as ever.
function showCustomerAccess() {
  const section = document.getElementById("customer");
  const allowed = mayReadCustomers();
  for (const id of ["search", "recent", "customer-card"]) document.getElementById(id).hidden = !allowed;
  let note = document.getElementById("customer-forbidden");
  if (!allowed && !note) {
    note = el("p", { class: "muted", id: "customer-forbidden" },
      "This key may not read customers (it lacks the customers:read scope): the Customer 360 view is not shown.");
    section.append(note);
  }
  if (note) note.hidden = allowed;
  markLive("customer", !allowed);
}

function showLogin(message = "") {
  if (polling !== null) clearInterval(polling);
  polling = null;
  document.getElementById("views").hidden = true;
  document.getElementById("sign-out").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message;
}

async function start(session) {
  scopes = session.scopes;
  document.getElementById("login").hidden = true;
  document.getElementById("views").hidden = false;
  document.getElementById("sign-out").hidden = false;
  showCustomerAccess();
  refresh();
  if (polling === null) polling = setInterval(refresh, POLL_MS);
}

document.getElementById("login-form").addEventListener("submit", async event => {
  event.preventDefault();
  const input = document.getElementById("key-input");
  const reply = await fetch("/v1/session", { method: "POST", credentials: "same-origin",
    headers: { Accept: "application/json", Authorization: `Bearer ${input.value.trim()}` } });
  input.value = "";  // the cookie stands for the key from now on
  if (!reply.ok) { showLogin(reply.status === 401 ? "that key is not known" : `sign-in failed (${reply.status})`); return; }
  start(await reply.json());
});
document.getElementById("sign-out").addEventListener("click", async () => {
  await fetch("/v1/session", { method: "DELETE", credentials: "same-origin" });
  showLogin("signed out");
});
document.getElementById("search").addEventListener("submit", event => {
  event.preventDefault();
  showCustomer(document.getElementById("search-input").value);
});
fetch("/v1/session", { headers: { Accept: "application/json" }, credentials: "same-origin" })
  .then(async reply => (reply.ok ? start(await reply.json()) : showLogin()))
  .catch(() => showLogin("the orchestrator did not answer"));
