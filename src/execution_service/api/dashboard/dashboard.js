// The dashboard: reads the service's JSON endpoints once, then follows /events (server-sent
// events pushed by the pipeline as each batch commits) to stay current without polling.
"use strict";

const OPEN = ["PENDING_NEW", "NEW", "PARTIALLY_FILLED"];
const COLORS = ["#2f6fd6", "#11804a", "#c0392b", "#8e44ad", "#d35400", "#16a085"];
const $ = (id) => document.getElementById(id);

const state = {
  account: "",          // "" : every account
  accounts: [],
  equity: new Map(),    // account -> [{at, equity}]
  source: null,         // the EventSource
  qualityTimer: null,
};

// Small helpers

function fmt(value, digits = 8) {
  if (value === null || value === undefined || value === "") return "n/a";
  const number = Number(value);
  if (!Number.isFinite(number)) return String(value);
  return number.toLocaleString("en-US", { maximumFractionDigits: digits });
}

function time(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString("en-GB");
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(cells, key) {
  const tr = document.createElement("tr");
  if (key) tr.dataset.key = key;
  for (const [text, className] of cells) tr.append(cell(text, className));
  return tr;
}

function accountQuery(prefix = "?") {
  return state.account ? `${prefix}account=${encodeURIComponent(state.account)}` : "";
}

async function getJSON(path) {
  const answer = await fetch(path);
  if (!answer.ok) throw new Error(`${path}: ${answer.status}`);
  return answer.json();
}

async function send(method, path, body) {
  const headers = { Authorization: `Bearer ${$("token").value}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(data.detail || data.error_message || `HTTP ${answer.status}`);
  return data;
}

function shownAccounts() {
  return state.account ? [state.account] : state.accounts;
}

// Kill switch

function showKillSwitch(kill) {
  $("kill-state").textContent = kill.active
    ? `ENGAGED since ${kill.since || "?"}: ${kill.reason || ""}` : "released: orders are accepted";
  $("kill-switch").classList.toggle("engaged", Boolean(kill.active));
}

async function setKillSwitch(engage) {
  $("kill-error").hidden = true;
  try {
    showKillSwitch(engage
      ? await send("POST", "/kill-switch", { reason: "engaged from the dashboard" })
      : await send("DELETE", "/kill-switch"));
  } catch (error) {
    $("kill-error").textContent = error.message;
    $("kill-error").hidden = false;
  }
}

// Equity

async function loadEquity() {
  state.equity.clear();
  const lines = await Promise.all(shownAccounts().map(async (account) => {
    const data = await getJSON(`/equity?limit=500&account=${encodeURIComponent(account)}`);
    const points = data.snapshots.map((s) => ({ at: Date.parse(s.at), equity: Number(s.equity) }));
    points.push({ at: Date.parse(data.current.at), equity: Number(data.current.equity) });
    return [account, points];
  }));
  for (const [account, points] of lines) state.equity.set(account, points);
  drawEquity();
}

function drawEquity() {
  const svg = $("equity-chart");
  svg.replaceChildren();
  const all = [...state.equity.values()].flat();
  if (!all.length) return;
  const [t0, t1] = [Math.min(...all.map((p) => p.at)), Math.max(...all.map((p) => p.at))];
  const [v0, v1] = [Math.min(...all.map((p) => p.equity)), Math.max(...all.map((p) => p.equity))];
  const x = (t) => (t1 > t0 ? ((t - t0) / (t1 - t0)) * 600 : 300);
  const y = (v) => (v1 > v0 ? 195 - ((v - v0) / (v1 - v0)) * 190 : 100);
  const summary = [];
  [...state.equity.entries()].forEach(([account, points], index) => {
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("points", points.map((p) => `${x(p.at).toFixed(1)},${y(p.equity).toFixed(1)}`).join(" "));
    line.setAttribute("stroke", COLORS[index % COLORS.length]);
    line.dataset.account = account;
    svg.append(line);
    summary.push(`${account}: ${fmt(points[points.length - 1].equity, 2)}`);
  });
  $("equity-now").textContent = `${summary.join(" · ")} (chart from ${fmt(v0, 2)} to ${fmt(v1, 2)})`;
}

// Balances and positions

async function loadBalances() {
  const body = $("balances").tBodies[0];
  const rows = await Promise.all(shownAccounts().map(async (account) => {
    const balances = await getJSON(`/balances?account=${encodeURIComponent(account)}`);
    return Object.entries(balances).map(([asset, amounts]) => balanceRow(account, asset, amounts));
  }));
  body.replaceChildren(...rows.flat());
}

function balanceRow(account, asset, amounts) {
  return row([[account, "acct"], [asset], [fmt(amounts.free), "num"], [fmt(amounts.locked), "num"]],
             `${account}/${asset}`);
}

async function loadPositions() {
  const body = $("positions").tBodies[0];
  const rows = await Promise.all(shownAccounts().map(async (account) =>
    (await getJSON(`/positions?account=${encodeURIComponent(account)}`)).map(positionRow)));
  body.replaceChildren(...rows.flat());
}

function positionRow(p) {
  return row([[p.account, "acct"], [p.symbol], [fmt(p.quantity), "num"],
              [fmt(p.realized_pnl, 4), "num"], [fmt(p.unrealized_pnl, 4), "num"]],
             `${p.account}/${p.symbol}`);
}

function upsert(body, tr, atTop = true) {
  const old = [...body.rows].find((r) => r.dataset.key === tr.dataset.key);
  tr.classList.add("fresh");
  if (old) old.replaceWith(tr);
  else if (atTop) body.prepend(tr);
  else body.append(tr);
}

// Orders and trades

function orderRow(o) {
  const tr = row([[time(o.event_time_ms || o.updated_at)], [o.symbol], [o.side, o.side],
                  [fmt(o.filled_quantity), "num"], [fmt(o.price, 2), "num"], [o.status],
                  [o.account, "acct"]], o.order_id);
  tr.addEventListener("click", () => showOrder(o.order_id));
  return tr;
}

function openOrderRow(o) {
  const button = document.createElement("button");
  button.textContent = "cancel";
  button.addEventListener("click", () => cancelOrder(o.order_id));
  const tr = row([[o.symbol], [o.side, o.side], [o.order_type], [fmt(o.quantity), "num"],
                  [fmt(o.limit_price ?? o.stop_price ?? o.reference_price, 2), "num"],
                  [o.account, "acct"]], o.order_id);
  const td = document.createElement("td");
  td.append(button);
  tr.append(td);
  return tr;
}

function tradeRow(t) {
  return row([[time(t.executed_at)], [t.symbol], [t.side, t.side], [fmt(t.quantity), "num"],
              [fmt(t.price, 2), "num"], [fmt(t.slippage_bps, 2), "num"], [t.account, "acct"]],
             t.trade_id);
}

function orderFilter() {
  const symbol = $("order-symbol").value.trim().toUpperCase().replace(/[/_:-]/g, "");
  return { symbol, status: $("order-status").value };
}

async function loadOrders() {
  const { symbol, status } = orderFilter();
  let path = `/orders?limit=50${accountQuery("&")}`;
  if (symbol) path += `&symbol=${encodeURIComponent(symbol)}`;
  if (status) path += `&status=${status}`;
  const orders = await getJSON(path);
  $("orders").tBodies[0].replaceChildren(...orders.map(orderRow));
}

async function loadOpenOrders() {
  const lists = await Promise.all(OPEN.map((status) =>
    getJSON(`/orders?limit=200&status=${status}${accountQuery("&")}`)));
  $("open-orders").tBodies[0].replaceChildren(...lists.flat().map(openOrderRow));
}

async function loadTrades() {
  const symbol = $("trade-symbol").value.trim().toUpperCase().replace(/[/_:-]/g, "");
  let path = `/trades?limit=50${accountQuery("&")}`;
  if (symbol) path += `&symbol=${encodeURIComponent(symbol)}`;
  $("trades").tBodies[0].replaceChildren(...(await getJSON(path)).map(tradeRow));
}

async function cancelOrder(orderId) {
  $("cancel-error").hidden = true;
  try {
    await send("DELETE", `/orders/${encodeURIComponent(orderId)}`);
  } catch (error) {
    $("cancel-error").textContent = `cancel refused: ${error.message}`;
    $("cancel-error").hidden = false;
  }
}

async function showOrder(orderId) {
  const detail = await getJSON(`/orders/${encodeURIComponent(orderId)}`);
  $("detail-id").textContent = `${detail.symbol} ${detail.side} ${detail.status} (${orderId})`;
  $("detail-fills").tBodies[0].replaceChildren(...detail.trades.map((t) => row([
    [fmt(t.quantity), "num"], [fmt(t.price, 2), "num"], [`${fmt(t.fee)} ${t.fee_asset}`, "num"],
    [fmt(t.slippage_bps, 2), "num"], [t.liquidity]])));
  $("detail-events").replaceChildren(...detail.events.map((e) => {
    const li = document.createElement("li");
    li.textContent = `${time(e.at)} ${e.status}${e.detail ? `: ${e.detail}` : ""}`;
    return li;
  }));
  $("detail").hidden = false;
}

// Fill quality

async function loadQuality() {
  const q = await getJSON(`/fill-quality${accountQuery()}`);
  const s = q.slippage_bps;
  $("slippage").replaceChildren(...[
    ["taker fills", s.fills], ["slippage mean", `${fmt(s.mean, 2)} bp`],
    ["p50", `${fmt(s.p50, 2)} bp`], ["p95", `${fmt(s.p95, 2)} bp`], ["worst", `${fmt(s.max, 2)} bp`],
  ].flatMap(([name, value]) => {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = name;
    dd.textContent = value;
    dd.style.margin = "0";
    return [dt, dd];
  }));
  const maker = q.liquidity.maker.fills;
  const taker = q.liquidity.taker.fills;
  const total = maker + taker;
  const bar = $("liquidity");
  bar.replaceChildren();
  for (const [kind, count] of [["maker", maker], ["taker", taker]]) {
    const part = document.createElement("div");
    part.className = kind;
    part.style.width = total ? `${(100 * count) / total}%` : "0";
    bar.append(part);
  }
  $("liquidity-text").textContent = total
    ? `maker ${maker} (${fmt((100 * maker) / total, 1)}%), taker ${taker} of the last ${q.fills} fills`
    : "no fills yet";
  drawLatency(q.latency);
  $("rejections").replaceChildren(...Object.entries(q.rejections).map(([reason, count]) => {
    const li = document.createElement("li");
    li.textContent = `${reason}: ${count}`;
    return li;
  }));
  if (!Object.keys(q.rejections).length) $("rejections").textContent = "none";
}

function drawLatency(buckets) {
  const svg = $("latency-chart");
  svg.replaceChildren();
  const most = Math.max(1, ...buckets.map((b) => b.orders));
  const width = 300 / buckets.length;
  buckets.forEach((bucket, index) => {
    const bar = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    const height = (bucket.orders / most) * 95;
    bar.setAttribute("x", (index * width + 1).toFixed(1));
    bar.setAttribute("width", (width - 2).toFixed(1));
    bar.setAttribute("y", (100 - height).toFixed(1));
    bar.setAttribute("height", height.toFixed(1));
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = `${bucket.le_ms === null ? "more" : `≤ ${bucket.le_ms} ms`}: ${bucket.orders}`;
    bar.append(title);
    svg.append(bar);
  });
  const counted = buckets.reduce((sum, b) => sum + b.orders, 0);
  $("latency-text").textContent = `${counted} results since start; bars up to ${buckets.at(-2).le_ms} ms and beyond`;
}

function refreshQualitySoon() {
  // Fills change the figures; read them again at most every five seconds.
  if (state.qualityTimer) return;
  state.qualityTimer = setTimeout(() => {
    state.qualityTimer = null;
    loadQuality().catch(report);
  }, 5000);
}

// Live updates

function mine(data) {
  return !state.account || !data.account || data.account === state.account;
}

function follow() {
  if (state.source) state.source.close();
  const source = new EventSource(`/events${accountQuery()}`);
  state.source = source;
  source.onopen = () => { $("live").textContent = "live"; $("live").classList.add("on"); };
  source.onerror = () => { $("live").textContent = "reconnecting"; $("live").classList.remove("on"); };
  source.addEventListener("order", (event) => {
    const order = JSON.parse(event.data);
    if (!order.order_id || !mine(order)) return;
    const { symbol, status } = orderFilter();
    if ((!symbol || order.symbol === symbol) && (!status || order.status === status)) {
      upsert($("orders").tBodies[0], orderRow(order));
    }
    const openBody = $("open-orders").tBodies[0];
    const existing = [...openBody.rows].find((r) => r.dataset.key === order.order_id);
    if (OPEN.includes(order.status)) upsert(openBody, openOrderRow(order));
    else if (existing) existing.remove();
    refreshQualitySoon();
  });
  source.addEventListener("trade", (event) => {
    const trade = JSON.parse(event.data);
    const symbol = $("trade-symbol").value.trim().toUpperCase().replace(/[/_:-]/g, "");
    if (mine(trade) && (!symbol || trade.symbol === symbol)) upsert($("trades").tBodies[0], tradeRow(trade));
  });
  source.addEventListener("balance", (event) => {
    const b = JSON.parse(event.data);
    if (mine(b)) upsert($("balances").tBodies[0], balanceRow(b.account, b.asset, b), false);
  });
  source.addEventListener("position", (event) => {
    const p = JSON.parse(event.data);
    if (mine(p)) upsert($("positions").tBodies[0], positionRow(p), false);
  });
  source.addEventListener("equity", (event) => {
    const e = JSON.parse(event.data);
    if (!mine(e)) return;
    const points = state.equity.get(e.account) || [];
    points.push({ at: Date.parse(e.at), equity: Number(e.equity) });
    state.equity.set(e.account, points);
    drawEquity();
  });
  source.addEventListener("kill_switch", (event) => showKillSwitch(JSON.parse(event.data)));
}

// Start

function report(error) {
  console.warn(error);  // a failed read leaves the section as it was
}

async function loadAll() {
  document.body.classList.toggle("one-account", Boolean(state.account));
  const kill = getJSON("/kill-switch").then(showKillSwitch);
  await Promise.all([kill, loadEquity(), loadBalances(), loadPositions(), loadQuality(),
                     loadOpenOrders(), loadOrders(), loadTrades()].map((p) => p.catch(report)));
}

async function start() {
  $("token").value = sessionStorage.getItem("token") || "";
  $("token").addEventListener("change", () => sessionStorage.setItem("token", $("token").value));
  state.accounts = await getJSON("/accounts");
  for (const account of state.accounts) $("account").append(new Option(account, account));
  $("account").addEventListener("change", () => {
    state.account = $("account").value;
    follow();
    loadAll();
  });
  $("engage").addEventListener("click", () => setKillSwitch(true));
  $("release").addEventListener("click", () => setKillSwitch(false));
  $("detail-close").addEventListener("click", () => { $("detail").hidden = true; });
  $("order-symbol").addEventListener("change", () => loadOrders().catch(report));
  $("order-status").addEventListener("change", () => loadOrders().catch(report));
  $("trade-symbol").addEventListener("change", () => loadTrades().catch(report));
  follow();
  await loadAll();
}

start().catch(report);
