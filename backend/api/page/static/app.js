// pantau live page: reads the public API (/api/v1) every few seconds and draws everything itself (SVG),
// so it needs no build step, no library and no internet. Data is always put in the DOM as text, never as
// HTML: site names and alert messages come from config files and devices.
"use strict";

const API = "/api/v1";
const POLL_MS = 5000;
const SLOW_EVERY = 3;            // gateway health and bands: every third poll
const CHART_SPAN_MS = 6 * 3600e3; // the charts show the last 6 hours of data
const MIN_SPAN_MS = 10 * 60e3;    // ... or at least 10 minutes
const TRUCKS_SHOWN = 12;
const KEY_STORE = "pantau.key";
const SVG_NS = "http://www.w3.org/2000/svg";

const state = {
  cycle: 0, busy: false, serverOffset: 0, key: localStorage.getItem(KEY_STORE) || "", locked: new Set(),
  sites: [], latest: [], alerts: [], bands: [], devices: new Map(), vehicles: [], series: new Map(),
};

// --- small helpers ------------------------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === "style") for (const [p, s] of Object.entries(v)) node.style.setProperty(p, s);
    else node.setAttribute(k, String(v));
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}
function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}
const $ = (id) => document.getElementById(id);
const serverNow = () => Date.now() + state.serverOffset;

// Colour by severity (0 = no alert). The same scale for map, badges and chart bands.
function severityColor(severity) {
  if (severity === null || severity === undefined) return "var(--nodata)";
  if (severity <= 0) return "var(--sev-none)";
  if (severity === 1) return "var(--sev-1)";
  if (severity <= 3) return "var(--sev-2)";
  if (severity <= 5) return "var(--sev-4)";
  return "var(--sev-6)";
}
const LEGEND = [["no alert", 0], ["waspada", 1], ["siaga", 2], ["siaga tinggi", 4], ["awas / bahaya", 6],
                ["no data", null]];

function fmtNumber(value, digits = 2) {
  return value === null || value === undefined || Number.isNaN(value) ? "—" : Number(value).toFixed(digits);
}
const CLOCK = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
function fmtTime(iso, seconds = true) {
  if (!iso) return "—";
  return new Date(iso).toLocaleTimeString([], seconds ? { ...CLOCK, second: "2-digit" } : CLOCK);
}
function fmtAge(iso) {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((serverNow() - Date.parse(iso)) / 1000));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}
const seriesKey = (x) => `${x.site}/${x.device}/${x.channel}`;

// --- API ----------------------------------------------------------------------------------------------
class KeyNeeded extends Error {}

async function getJSON(path, params = {}) {
  const url = new URL(API + path, location.origin);
  for (const [k, v] of Object.entries(params)) {
    for (const item of Array.isArray(v) ? v : [v]) if (item !== undefined && item !== null) url.searchParams.append(k, item);
  }
  const headers = { Accept: "application/json" };
  if (state.key) headers.Authorization = `Bearer ${state.key}`;
  const response = await fetch(url, { headers, cache: "no-store" });
  const date = response.headers.get("Date");
  if (date) state.serverOffset = Date.parse(date) + 500 - Date.now();
  if (response.status === 401 || response.status === 403) throw new KeyNeeded(`${path}: ${response.status}`);
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch { /* not JSON */ }
    throw new Error(`${path}: ${response.status} ${detail}`);
  }
  return response.json();
}

// A resource the key may not read (a public flood map opens only sites and latest values): the page shows
// the rest and asks for a key, instead of showing nothing.
function unlessLocked(what, fallback) {
  return (error) => {
    if (!(error instanceof KeyNeeded)) throw error;
    state.locked.add(what);
    return fallback;
  };
}

async function poll() {
  if (state.busy) return;
  state.busy = true;
  const slow = state.cycle % SLOW_EVERY === 0;
  state.locked = new Set();
  try {
    const [sites, latest, alerts] = await Promise.all([
      getJSON("/sites"), getJSON("/latest"),
      getJSON("/alerts/active").catch(unlessLocked("alerts", { alerts: [] })),
    ]);
    state.sites = sites.sites;
    state.latest = latest.latest;
    state.alerts = alerts.alerts;
    if (slow) await pollSlow();
    await Promise.all([
      pollSeries().catch(unlessLocked("charts", undefined)),
      pollTrucks().catch(unlessLocked("trucks", undefined)),
    ]);
    render();
    document.body.dataset.state = "live";
    document.body.dataset.locked = [...state.locked].join(" ");
    document.body.dataset.updated = new Date().toISOString();
    const needKey = state.locked.size ? ` · ${[...state.locked].join(", ")} need an API key` : "";
    $("status").textContent = `live · updated ${fmtTime(new Date().toISOString())}${needKey}`;
    if (state.locked.size && !state.key) $("key-form").hidden = false;
    state.cycle += 1;
  } catch (error) {
    if (error instanceof KeyNeeded) {
      document.body.dataset.state = "key";
      $("status").textContent = state.key ? "this API key may not read the data" : "an API key is needed";
      $("key-form").hidden = false;
    } else {
      document.body.dataset.state = "error";
      $("status").textContent = `not updating: ${error.message}`;
    }
  } finally {
    state.busy = false;
  }
}

async function pollSlow() {
  const [bands, ...devices] = await Promise.all([
    getJSON("/page/bands").catch(unlessLocked("alert bands", { bands: [] })),
    ...state.sites.map((s) => getJSON(`/sites/${encodeURIComponent(s.id)}/devices`)
      .catch(unlessLocked("gateway health", { devices: [] }))),
  ]);
  state.bands = bands.bands;
  state.devices = new Map(state.sites.map((s, i) => [s.id, devices[i].devices]));
}

// Water-level charts: the last CHART_SPAN of data, anchored on the newest reading (not the browser's clock:
// a technician's phone may be off by minutes, and a replayed backlog is still worth seeing).
async function pollSeries() {
  const levels = state.latest.filter((x) => x.quantity === "water_level");
  if (!levels.length) { state.series = new Map(); return; }
  const end = Math.max(...levels.map((x) => Date.parse(x.time))) + 1000;
  const window = { start: new Date(end - CHART_SPAN_MS).toISOString(), end: new Date(end).toISOString() };
  const found = new Map();
  for (let i = 0; i < levels.length; i += 20) {   // the API's default cap: 20 series per request
    const keys = levels.slice(i, i + 20).map(seriesKey);
    const page = await getJSON("/series", { series: keys, every: "1m", agg: "mean", ...window });
    let rows = page.series;
    // Few buckets (a gateway that just started): the raw readings draw a better line.
    if (rows.every((s) => s.rows.filter((r) => r.value !== null).length < 30)) {
      rows = (await getJSON("/series", { series: keys, limit: 2000, ...window })).series;
    }
    for (const s of rows) found.set(seriesKey(s), s);
  }
  state.series = found;
  // A gateway that started minutes ago: the axis spans its data (at least MIN_SPAN), not six empty hours.
  const first = Math.min(...[...found.values()].flatMap((s) => s.rows.filter((r) => r.value !== null)
    .slice(0, 1).map((r) => Date.parse(r.time))), end);
  const start = Math.max(Date.parse(window.start), Math.min(first, end - MIN_SPAN_MS));
  state.chartWindow = { start: new Date(start).toISOString(), end: window.end };
}

// The latest trucks of every site with record-stream devices, counted back from its last contact: the last
// 10 minutes first, widening only while fewer than TRUCKS_SHOWN came back (a busy corridor weighs hundreds an
// hour; a wide window would page from its oldest truck).
const TRUCK_SPANS_MS = [10 * 60e3, 3600e3, 24 * 3600e3];

async function pollTrucks() {
  const perSite = await Promise.all(state.sites.map(async (site) => {
    const devices = (state.devices.get(site.id) || []).filter((d) => d.kind === "records" && d.last_contact);
    if (!devices.length) return [];
    const last = Math.max(...devices.map((d) => Date.parse(d.last_contact))) + 1000;
    let found = [];
    for (const span of TRUCK_SPANS_MS) {
      found = (await getJSON("/vehicles", {
        site: site.id, start: new Date(last - span).toISOString(), end: new Date(last).toISOString(), limit: 1000,
      })).vehicles;
      if (found.length >= TRUCKS_SHOWN) break;
    }
    return found;
  }));
  state.vehicles = perSite.flat()
    .sort((a, b) => Date.parse(b.time) - Date.parse(a.time)).slice(0, TRUCKS_SHOWN);
}

// --- rendering ----------------------------------------------------------------------------------------
function worstBySite() {
  const worst = new Map();
  for (const a of state.alerts) if ((a.severity ?? 0) > (worst.get(a.site)?.severity ?? -1)) worst.set(a.site, a);
  return worst;
}

function render() {
  const worst = worstBySite();
  renderMap(worst);
  renderSites(worst);
  renderCharts();
  renderAlerts();
  renderTrucks();
  renderGateways();
}

function siteHasData(site) {
  return state.latest.some((x) => x.site === site.id)
    || (state.devices.get(site.id) || []).some((d) => d.last_contact);
}

function renderMap(worst) {
  const map = $("map");
  const [W, H, PAD] = [400, 260, 34];
  const sites = state.sites;
  map.replaceChildren();
  if (!sites.length) return;
  const lats = sites.map((s) => s.lat), lons = sites.map((s) => s.lon);
  const midLat = (Math.min(...lats) + Math.max(...lats)) / 2;
  const k = Math.cos((midLat * Math.PI) / 180);          // equirectangular, true to scale at mid latitude
  const spanX = Math.max((Math.max(...lons) - Math.min(...lons)) * k, 0.02);
  const spanY = Math.max(Math.max(...lats) - Math.min(...lats), 0.02);
  const scale = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);
  const cx = (Math.min(...lons) + Math.max(...lons)) / 2, cy = midLat;
  const x = (lon) => W / 2 + (lon - cx) * k * scale;
  const y = (lat) => H / 2 - (lat - cy) * scale;
  // A graticule every 0.01°/0.02°/0.05°... so a technician can read coordinates off the map.
  const step = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1].find((s) => s * scale >= 45) || 1;
  for (let lon = Math.ceil((cx - W / 2 / k / scale) / step) * step; x(lon) < W; lon += step) {
    map.append(svg("line", { class: "grid", x1: x(lon), x2: x(lon), y1: 0, y2: H }));
    map.append(svg("text", { class: "grid-label", x: x(lon) + 2, y: H - 3 }, `${lon.toFixed(3)}°E`));
  }
  for (let lat = Math.ceil((cy - H / 2 / scale) / step) * step; y(lat) > 0; lat += step) {
    map.append(svg("line", { class: "grid", x1: 0, x2: W, y1: y(lat), y2: y(lat) }));
    map.append(svg("text", { class: "grid-label", x: 2, y: y(lat) - 2 }, `${Math.abs(lat).toFixed(3)}°${lat < 0 ? "S" : "N"}`));
  }
  for (const site of sites) {
    const alert = worst.get(site.id);
    const severity = alert ? alert.severity ?? 1 : siteHasData(site) ? 0 : null;
    const g = svg("g", { "data-site": site.id });
    const circle = svg("circle", {
      class: "site", cx: x(site.lon), cy: y(site.lat), r: 9, fill: severityColor(severity),
      "data-severity": severity ?? "none",
    });
    circle.append(svg("title", {}, `${site.name}${alert ? ` — ${alert.level || alert.rule}` : ""}`));
    circle.addEventListener("click", () => document.querySelector(`#sites [data-site="${CSS.escape(site.id)}"]`)?.scrollIntoView());
    // The label goes on the side with more room, shortened to fit inside the map (about 5.6 px a letter).
    const px = x(site.lon), right = px < W / 2;
    const room = Math.floor(((right ? W - px : px) - 18) / 5.6);
    const label = site.name.length > room ? `${site.name.slice(0, Math.max(1, room - 1))}…` : site.name;
    g.append(circle, svg("text", {
      class: "site-label", x: px + (right ? 13 : -13), y: y(site.lat) + 4, "text-anchor": right ? "start" : "end",
    }, label));
    map.append(g);
  }
  const legend = $("legend");
  if (!legend.childElementCount) {
    for (const [name, sev] of LEGEND) legend.append(el("li", { style: { "--c": severityColor(sev) } }, name));
  }
}

function renderSites(worst) {
  const list = $("sites");
  list.replaceChildren(...state.sites.map((site) => {
    const alert = worst.get(site.id);
    const values = headline(state.latest.filter((x) => x.site === site.id && x.value !== null && x.quantity));
    const contact = (state.devices.get(site.id) || []).map((d) => d.last_contact).filter(Boolean).sort().pop();
    return el("li", { class: "site", "data-site": site.id, "data-has-data": String(siteHasData(site)) },
      el("span", { class: "name" }, site.name), " ",
      alert
        ? el("span", { class: "badge", style: { "--c": severityColor(alert.severity ?? 1) } }, alert.level || alert.rule)
        : el("span", { class: "badge", style: { "--c": severityColor(siteHasData(site) ? 0 : null) } }, siteHasData(site) ? "normal" : "no data"),
      el("div", { class: "meta" }, `${site.kind.replace("_", " ")} · ${site.id} · ${site.devices.length} devices`
        + (contact ? ` · last data ${fmtAge(contact)}` : "")),
      el("div", { class: "values" }, ...values.map((x) =>
        el("span", { title: `${seriesKey(x)} (${x.quality || "?"})` },
          `${x.device}/${x.channel} `, el("b", {}, fmtNumber(x.value)), ` ${x.unit || ""}`))));
  }));
}

// What a site's line shows: water levels and rain first; other channels only when there are none.
const HEADLINE = /^(water_level|rain_rate|rain_total)$/;
function headline(values) {
  const main = values.filter((x) => HEADLINE.test(x.quantity));
  return (main.length ? main : values).slice(0, 6);
}

function bandFor(key) {
  return state.bands.filter((b) => seriesKey(b) === key);
}

function renderCharts() {
  const box = $("charts");
  const levels = state.latest.filter((x) => x.quantity === "water_level");
  if (!levels.length) {
    box.replaceChildren(el("p", { class: "empty" }, "no water-level data yet"));
    return;
  }
  // No series read yet (or not allowed): an empty chart of the last minutes, the latest value in its caption.
  const last = Math.max(...levels.map((x) => Date.parse(x.time))) + 1000;
  const window = state.chartWindow
    || { start: new Date(last - MIN_SPAN_MS).toISOString(), end: new Date(last).toISOString() };
  $("charts-window").textContent = `${fmtTime(window.start, false)} – ${fmtTime(window.end, false)}`;
  box.replaceChildren(...levels.map((latest) => {
    const key = seriesKey(latest);
    const site = state.sites.find((s) => s.id === latest.site);
    const rows = (state.series.get(key)?.rows || []).filter((r) => r.value !== null);
    return el("figure", { class: "chart", "data-series": key },
      el("figcaption", {},
        el("span", {}, `${site ? site.name : latest.site} · ${latest.device}/${latest.channel}`),
        el("span", { class: "now" }, `${fmtNumber(latest.value)} ${latest.unit || ""}`,
          latest.alert ? " " : "", latest.alert ? el("span", { class: "badge", style: { "--c": severityColor(latest.alert.severity) } }, latest.alert.level || latest.alert.rule) : "")),
      chart(rows, bandFor(key), window, latest.unit || ""));
  }));
}

// One level chart: alert bands behind, threshold lines, the series, axes. Returns an <svg>.
function chart(rows, bands, window, unit) {
  const [W, H, L, R, T, B] = [400, 200, 38, 84, 8, 20];
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
  const t0 = Date.parse(window.start), t1 = Date.parse(window.end);
  const values = rows.map((r) => r.value);
  let lo = values.length ? Math.min(...values) : 0, hi = values.length ? Math.max(...values) : 1;
  // Show the thresholds up to the first one beyond the data, so the next level is always in sight.
  for (const band of bands) {
    if (band.direction === "up") hi = Math.max(hi, band.levels.find((l) => l.trigger > hi)?.trigger ?? hi);
    else lo = Math.min(lo, band.levels.find((l) => l.trigger < lo)?.trigger ?? lo);
  }
  const pad = Math.max((hi - lo) * 0.08, 0.05);
  lo -= pad; hi += pad;
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  const clampY = (v) => Math.max(T, Math.min(H - B, y(v)));
  for (const band of bands) {
    const up = band.direction === "up";
    band.levels.forEach((level, i) => {
      const beyond = band.levels[i + 1]?.trigger ?? (up ? hi : lo);
      const [a, b] = up ? [level.trigger, beyond] : [beyond, level.trigger];
      if ((up && level.trigger >= hi) || (!up && level.trigger <= lo)) return;
      const color = severityColor(level.severity);
      root.append(svg("rect", {
        class: "band", "data-level": level.name, x: L, width: W - L - R, y: clampY(b), height: Math.max(0, clampY(a) - clampY(b)), fill: color,
      }));
      root.append(svg("line", { class: "threshold", x1: L, x2: W - R, y1: y(level.trigger), y2: y(level.trigger), stroke: color }));
      root.append(svg("text", { class: "threshold-label", x: W - R + 3, y: y(level.trigger) + 3, fill: color },
        `${level.name} ${fmtNumber(level.trigger)}`));
    });
  }
  root.append(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
  root.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
  for (let i = 0; i <= 4; i += 1) {
    const v = lo + ((hi - lo) * i) / 4;
    root.append(svg("text", { class: "tick", x: L - 3, y: y(v) + 3, "text-anchor": "end" }, fmtNumber(v)));
  }
  for (let i = 0; i <= 3; i += 1) {
    const t = t0 + ((t1 - t0) * i) / 3;
    root.append(svg("text", { class: "tick", x: x(t), y: H - 6, "text-anchor": i === 0 ? "start" : i === 3 ? "end" : "middle" },
      fmtTime(t, false)));
  }
  root.append(svg("text", { class: "tick", x: 2, y: T + 6 }, unit));
  const d = rows.map((r, i) => `${i ? "L" : "M"}${x(Date.parse(r.time)).toFixed(1)},${y(r.value).toFixed(1)}`).join("");
  root.append(svg("path", { class: "line", d: d || "M0,0", "data-points": rows.length }));
  return root;
}

function renderAlerts() {
  const body = $("alerts").tBodies[0];
  body.replaceChildren(...state.alerts.map((a) => el("tr", { "data-alert": a.alert_id },
    el("td", {}, el("span", { class: "badge", style: { "--c": severityColor(a.severity ?? 1) } }, a.level || a.state),
      el("span", { class: "sub" }, a.state + (a.acknowledgement ? ` · ack ${a.acknowledgement.by}` : ""))),
    el("td", {}, a.site, el("span", { class: "sub" }, [a.rule, a.device, a.channel].filter(Boolean).join(" · "))),
    el("td", { class: "num" }, a.value === null ? "—" : `${fmtNumber(a.value)} ${a.unit || ""}`,
      a.threshold === null ? null : el("span", { class: "sub" }, `limit ${fmtNumber(a.threshold)}`)),
    el("td", {}, fmtAge(a.started_at || a.time)))));
  $("alerts-empty").hidden = state.alerts.length > 0;
}

// A small grey line under a cell's value: the parts that are known, or nothing.
function subline(...parts) {
  const text = parts.filter(Boolean).join(" · ");
  return text ? el("span", { class: "sub" }, text) : null;
}

const VERDICT_SEVERITY = { ok: 0, tolerated: 1, violation: 6, unknown: null };

function renderTrucks() {
  const body = $("trucks").tBodies[0];
  body.replaceChildren(...state.vehicles.map((v) => el("tr", { "data-verdict": v.verdict || "none" },
    el("td", {}, fmtTime(v.time)),
    el("td", {}, `${v.device}${v.lane ? ` · ${v.lane}` : ""}`, el("span", { class: "sub" }, v.site)),
    el("td", {}, v.axle_configuration || (v.axle_count ? `${v.axle_count} axles` : "—"),
      subline(v.vehicle_class, v.configuration_inferred ? "tyres assumed" : null)),
    el("td", { class: "num" }, fmtNumber(v.gvw_kg === null ? null : v.gvw_kg / 1000, 1)),
    el("td", { class: "num" }, fmtNumber(v.jbi_kg === null ? null : v.jbi_kg / 1000, 1)),
    el("td", { class: "num" }, v.excess_pct === null ? "—" : `${v.excess_pct > 0 ? "+" : ""}${fmtNumber(v.excess_pct, 0)} %`),
    el("td", {}, el("span", { class: "badge", style: { "--c": severityColor(VERDICT_SEVERITY[v.verdict] ?? null) } },
      v.verdict || "not judged"), v.band ? el("span", { class: "sub" }, v.band) : null))));
  $("trucks-empty").hidden = state.vehicles.length > 0;
}

const DEVICE_SEVERITY = { ok: 0, degraded: 2, failing: 6, disabled: null };

function renderGateways() {
  const list = $("gateways");
  list.replaceChildren(...state.sites.map((site) => {
    const devices = state.devices.get(site.id) || [];
    const contact = devices.map((d) => d.last_contact).filter(Boolean).sort().pop();
    const ageS = contact ? (serverNow() - Date.parse(contact)) / 1000 : Infinity;
    const fresh = ageS < 600 ? 0 : ageS < 3600 ? 2 : null;   // the `gateway-mati` rule's 10 minutes
    return el("li", { "data-gateway": site.gateway },
      el("span", { class: "dot", style: { "--c": severityColor(fresh) } }),
      el("b", {}, site.gateway), ` · ${site.name} · last data ${fmtAge(contact)}`,
      el("ul", { class: "devices" }, ...devices.map((d) => el("li", { "data-device": d.id, title: d.profile },
        el("span", { class: "dot", style: { "--c": severityColor(d.enabled ? DEVICE_SEVERITY[d.status] ?? (d.last_contact ? 0 : null) : null) } }),
        `${d.id}: ${d.enabled ? d.status || (d.last_contact ? "reporting" : "silent") : "disabled"}`,
        // A record stream's refused frames (wrong layout, baud rate, checksum): samples are dead letters.
        d.rejected_total ? el("span", { class: "rejects", "data-rejected": d.rejected_total },
          ` · ${d.rejected_total} rejected`) : null))));
  }));
}

// --- API key form -------------------------------------------------------------------------------------
function setupKeyForm() {
  const form = $("key-form");
  $("key-toggle").addEventListener("click", () => { form.hidden = !form.hidden; if (!form.hidden) $("key-input").focus(); });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.key = $("key-input").value.trim();
    localStorage.setItem(KEY_STORE, state.key);
    $("key-input").value = "";
    form.hidden = true;
    state.cycle = 0;
    poll();
  });
  $("key-forget").addEventListener("click", () => {
    state.key = "";
    localStorage.removeItem(KEY_STORE);
    state.cycle = 0;
    poll();
  });
}

setupKeyForm();
poll();
setInterval(poll, POLL_MS);
