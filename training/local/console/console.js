// The mediarec console: four pages over the public HTTP API, with the key the operator enters
// (kept in this tab's session storage, sent in the x-api-key header, never put in a URL).
// Everything the API returns is set as text (textContent), never parsed as markup.
"use strict";

(function () {
  const KEY = "mediarec.console.key";
  const BASE = "mediarec.console.base";
  const DEFAULT_PLATFORMS = ["web", "ios", "android"];
  const DAY_MS = 86400000;
  const MAX_DAYS = 62;
  const $ = (id) => document.getElementById(id);
  const itemCache = new Map();
  let current = { feed: null, user: null };

  // -- the API ------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(message, status, body) {
      super(message);
      this.status = status;
      this.body = body;
    }
  }

  function apiBase() {
    return (sessionStorage.getItem(BASE) || "").replace(/\/+$/, "");
  }

  async function api(method, path, { query, body, quiet } = {}) {
    const key = sessionStorage.getItem(KEY);
    if (!key) throw new ApiError("Enter an API key first (top right): every page reads the API with it.", 0);
    const url = new URL(apiBase() + path, window.location.href);
    for (const [name, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
    }
    const headers = { "x-api-key": key, accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    let response;
    try {
      response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (error) {
      throw new ApiError(`The API at ${url.origin} is unreachable (${error.message}). Is the server running, does the API address point at it, and (another origin than this page's) does it allow this page's origin (CORS)?`, 0);
    }
    let payload = null;
    const raw = await response.text();
    try {
      payload = raw ? JSON.parse(raw) : null;
    } catch (_) {
      payload = null;
    }
    if (!response.ok) throw new ApiError(describe(response.status, payload, raw), response.status, payload);
    if (response.status === 207 && !quiet) notice(`Partly stored: ${payload.rejected} of the items were rejected.`);
    return payload;
  }

  function describe(status, payload, raw) {
    if (!payload || typeof payload !== "object") {
      return `${status}: the API answered ${raw ? "something that is not JSON" : "nothing"}.`;
    }
    const reasons = (payload.errors || [])
      .map((e) => [e.field, e.reason].filter(Boolean).join(": "))
      .filter(Boolean);
    const hints = {
      401: " Check the API key.",
      403: " The key lacks the scope this page needs (see the Access table in the README).",
      503: " The database was busy; try again.",
    };
    return `${status} ${payload.error || "error"}: ${payload.message || ""}` +
      (reasons.length ? ` (${reasons.join("; ")})` : "") + (hints[status] || "");
  }

  // -- messages -----------------------------------------------------------------------------
  function showError(error) {
    $("error-text").textContent = error instanceof ApiError || error instanceof Error ? error.message : String(error);
    $("error").hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
    $("error-text").textContent = "";
  }

  function notice(message) {
    $("notice").textContent = message;
  }

  function guarded(work) {
    return async (event) => {
      if (event) event.preventDefault();
      clearError();
      try {
        await work(event);
      } catch (error) {
        notice("");
        showError(error);
      }
    };
  }

  // -- small DOM helpers ----------------------------------------------------------------------
  function node(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "class") element.className = value;
      else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
      else element.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return element;
  }

  function table(caption, columns, rows) {
    return node("div", { class: "table-wrap" },
      node("table", {},
        node("caption", {}, caption),
        node("thead", {}, node("tr", {}, columns.map((c) => node("th", { scope: "col" }, c)))),
        node("tbody", {}, rows.length
          ? rows.map((r) => node("tr", {}, r.map((cell) => node("td", {}, cell ?? "—"))))
          : node("tr", {}, node("td", { colspan: columns.length, class: "empty" }, "nothing yet")))));
  }

  // a random id (crypto.randomUUID exists only on HTTPS and localhost pages)
  function randomId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  const pct = (v) => (v === null || v === undefined ? "—" : `${(100 * v).toFixed(1)}%`);
  const num = (v, digits = 3) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));
  const interval = (ci) => (ci ? `[${pct(ci[0])}, ${pct(ci[1])}]` : "—");
  const when = (iso) => (iso ? iso.replace("T", " ").replace(/\.\d+Z$/, "Z") : "—");

  // -- platforms (the OpenAPI document names the configured ones, where it is served) -----
  async function platforms() {
    try {
      const response = await fetch(apiBase() + "/openapi.json");
      if (response.ok) {
        const doc = await response.json();
        const found = JSON.stringify(doc).match(/"platform"[^}]*?"enum":\s*(\[[^\]]*\])/);
        if (found) return JSON.parse(found[1]);
      }
    } catch (_) {
      // not served (in AWS the API has no /openapi.json): the defaults
    }
    return DEFAULT_PLATFORMS;
  }

  async function fillPlatforms() {
    const names = await platforms();
    for (const select of document.querySelectorAll("select.platforms")) {
      const chosen = select.value;
      const options = names.map((p) => node("option", { value: p }, p));
      if (select.dataset.any) options.unshift(node("option", { value: "" }, select.dataset.any));
      select.replaceChildren(...options);
      if (chosen) select.value = chosen;
    }
  }

  // -- known users (admin) ------------------------------------------------------------------
  let searchTimer = null;
  let searches = 0;
  function searchUsers(input) {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(async () => {
      const asked = ++searches;
      try {
        const found = await api("GET", "/users", { query: { prefix: input.value.trim(), limit: 20 }, quiet: true });
        if (asked !== searches) return; // a later keystroke's answer is the one to show
        $("known-users").replaceChildren(
          ...found.users.map((u) => node("option", { value: u.user_id }, `${u.events} events`)));
      } catch (_) {
        // the search is a convenience: a key without admin, or a partial id the API refuses,
        // leaves the list empty; the feed's own request reports its errors
        if (asked === searches) $("known-users").replaceChildren();
      }
    }, 200);
  }

  // -- the feed page ------------------------------------------------------------------------
  async function itemRecord(itemId) {
    if (!itemCache.has(itemId)) {
      itemCache.set(itemId, api("GET", `/items/${encodeURIComponent(itemId)}`).catch((error) => {
        itemCache.delete(itemId);
        if (error.status === 404) return null;
        throw error;
      }));
    }
    return itemCache.get(itemId);
  }

  async function showFeed() {
    const user = $("feed-user").value.trim();
    if (!user) throw new Error("Pick a user, or start a new anonymous one.");
    const query = {
      k: $("feed-k").value,
      platform: $("feed-platform").value,
      kind: $("feed-kind").value,
      category: $("feed-category").value.trim(),
      exclude_seen: $("feed-exclude-seen").checked ? "true" : "false",
    };
    const feed = await api("GET", `/recommendations/${encodeURIComponent(user)}`, { query });
    const records = await inBatches(feed.items.map((item) => () =>
      itemRecord(item.item_id).catch((error) => {
        showError(new Error(`The feed was served, but item ${item.item_id} could not be read: ${error.message}`));
        return null;
      })), 4);
    current.feed = feed;
    $("feed-meta").textContent = `${feed.items.length} items for ${feed.user_id} on ${feed.platform}, ` +
      `model ${feed.model_version}, served ${when(feed.served_at)} (recommendation ${feed.recommendation_id})`;
    const categories = new Set();
    $("feed-cards").replaceChildren(...feed.items.map((item, n) => {
      const record = records[n] || {};
      (record.categories || []).forEach((c) => categories.add(c));
      return card(feed, item, record);
    }));
    $("known-categories").replaceChildren(...[...categories].sort().map((c) => node("option", { value: c })));
    if (!feed.items.length) $("feed-cards").append(node("li", { class: "empty" }, "No items match: loosen the filters."));
  }

  function card(feed, item, record) {
    const title = record.title || item.item_id;
    const status = node("span", { class: "sent", role: "status" });
    const send = (type) => guarded(async () => {
      const event = {
        event_id: randomId(),
        user_id: feed.user_id,
        item_id: item.item_id,
        event_type: type,
        platform: feed.platform,
        recommendation_id: feed.recommendation_id,
        position: item.position,
      };
      const answer = await api("POST", "/events", { body: event });
      const outcome = answer.results[0].status;
      status.textContent = `${type}: ${outcome}`;
      notice(`${type} on “${title}” ${outcome} (recommendation ${feed.recommendation_id}, position ${item.position}). Show the feed again to see it react.`);
    });
    return node("li", { class: "card", "data-item": item.item_id },
      node("div", { class: "card-head" },
        node("span", { class: "position", "aria-label": `position ${item.position}` }, `#${item.position}`),
        node("h3", {}, title),
      ),
      node("p", { class: "tags" },
        node("span", { class: `badge kind-${item.kind}` }, item.kind),
        node("span", { class: `badge reason reason-${item.reason}`, title: "why it was chosen" }, item.reason),
        (record.categories || []).map((c) => node("span", { class: "badge category" }, c))),
      node("p", { class: "score" }, `score ${num(item.score, 4)} · ${item.item_id}`),
      node("div", { class: "actions", role: "group", "aria-label": `Send an event for ${title}` },
        ["view", "click", "like", "skip"].map((type) =>
          node("button", { type: "button", class: `act act-${type}`, onclick: send(type),
                           "aria-label": `${type} ${title}` }, type)),
        status));
  }

  // -- the user page ------------------------------------------------------------------------
  async function showUser() {
    const user = $("user-id").value.trim();
    if (!user) throw new Error("Name a user.");
    const view = $("user-view");
    $("user-delete").disabled = true;
    let found;
    try {
      found = await api("GET", `/users/${encodeURIComponent(user)}`);
    } catch (error) {
      if (error.status !== 404) throw error;
      view.replaceChildren(node("p", { class: "empty" }, `Nothing is stored about ${user}.`));
      return;
    }
    current.user = found.user_id;
    $("user-delete").disabled = false;
    const attributes = Object.entries(found.attributes || {});
    view.replaceChildren(
      node("p", { class: "meta" }, `${found.user_id}: ${found.event_count} events stored, ` +
        `${found.feed_count} feeds shown; the latest below.`),
      attributes.length
        ? table("Attributes", ["name", "value"], attributes.map(([k, v]) => [k, JSON.stringify(v)]))
        : null,
      table("Recent events", ["time", "type", "item", "platform", "recommendation", "position"],
        found.events.map((e) => [when(e.ts), e.event_type, e.item_id, e.platform,
                                 e.recommendation_id, e.position])),
      table("What they were shown", ["served", "model", "platform", "items (position: item, reason)"],
        found.feeds.map((f) => [when(f.served_at), f.model_version, f.platform,
                                f.items.map((i) => `${i.position}: ${i.item_id} (${i.reason})`).join(", ")])),
    );
  }

  async function deleteUser() {
    const user = current.user;
    const dialog = $("delete-dialog");
    $("delete-user").textContent = user;
    dialog.returnValue = "";
    dialog.showModal();
    await new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
    if (dialog.returnValue !== "delete") return notice("Nothing was deleted.");
    const answer = await api("DELETE", `/users/${encodeURIComponent(user)}`);
    const removed = Object.entries(answer.deleted || {});
    $("user-delete").disabled = true;
    current.user = null;
    $("user-view").replaceChildren(
      node("p", { class: "meta" }, `${user} was deleted; personalisation ${answer.personalisation || "stopped"}.`),
      table("Rows removed", ["table", "rows"], removed.map(([t, n]) => [t, String(n)])));
    notice(`Deleted ${user}: ${removed.reduce((sum, [, n]) => sum + n, 0)} rows removed.`);
  }

  // -- the metrics page ---------------------------------------------------------------------
  const iso = (ms) => new Date(ms).toISOString();

  function dayString(ms) {
    return new Date(ms).toISOString().slice(0, 10);
  }

  function metricsRange() {
    const from = Date.parse(`${$("metrics-from").value}T00:00:00Z`);
    const to = Date.parse(`${$("metrics-to").value}T00:00:00Z`) + DAY_MS;
    if (!(from < to)) throw new Error("The range is empty: From must be on or before To.");
    if ((to - from) / DAY_MS > MAX_DAYS) throw new Error(`Pick at most ${MAX_DAYS} days (one request per day).`);
    return { from, to };
  }

  // the tasks, ``width`` at a time, in order; the first failure stops what has not started
  async function inBatches(tasks, width) {
    const results = new Array(tasks.length);
    let next = 0;
    let failed = false;
    await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, async () => {
      while (next < tasks.length && !failed) {
        const n = next++;
        try {
          results[n] = await tasks[n]();
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    }));
    return results;
  }

  // the 95% Wilson interval of hits out of shown (what the API computes per slice)
  function wilson(hits, shown) {
    if (!shown) return { value: null, numerator: 0, denominator: 0, ci95: null };
    const z = 1.959963984540054;
    const p = hits / shown;
    const centre = (p + (z * z) / (2 * shown)) / (1 + (z * z) / shown);
    const half = (z * Math.sqrt((p * (1 - p)) / shown + (z * z) / (4 * shown * shown))) / (1 + (z * z) / shown);
    return { value: p, numerator: hits, denominator: shown, ci95: [Math.max(0, centre - half), Math.min(1, centre + half)] };
  }

  // one line per model version (the platforms' counts pooled), or per platform × version
  function seriesOf(days, metric, perPlatform) {
    const counts = new Map();
    days.forEach((day, n) => {
      for (const part of day.breakdown) {
        const name = (perPlatform ? `${part.platform} · ` : "") + part.model_version +
          (part.arm ? ` (arm ${part.arm})` : "");
        if (!counts.has(name)) counts.set(name, days.map(() => [0, 0]));
        counts.get(name)[n][0] += part[metric].numerator;
        counts.get(name)[n][1] += part[metric].denominator;
      }
    });
    const names = [...counts].map(([name, perDay]) => [name, perDay.map(([hits, shown]) => (shown ? wilson(hits, shown) : null))]);
    return names.map(([name, values]) => ({
      name,
      points: values.map((v) => ({
        value: v ? v.value : null,
        low: v && v.ci95 ? v.ci95[0] : null,
        high: v && v.ci95 ? v.ci95[1] : null,
        detail: v ? `${pct(v.value)} of ${v.denominator} impressions, 95% ${interval(v.ci95)}` : "",
      })),
    }));
  }

  let lastDays = null;
  let metricsReads = 0;
  const percentTick = (v) => `${+(100 * v).toFixed(2)}%`;

  function drawLines() {
    if (!lastDays) return;
    const { days, labels } = lastDays;
    const perPlatform = $("metrics-lines").value === "platform";
    const what = perPlatform ? "platform and model version" : "model version";
    const emptyMessage = "No impressions in this range: serve some feeds (the Feed page) or widen it.";
    for (const metric of ["pac", "ctr"]) {
      MediarecCharts.lines($(`chart-${metric}`), labels, seriesOf(days, metric, perPlatform),
        { label: `${metric.toUpperCase()} per day per ${what}`, format: percentTick, emptyMessage });
    }
  }

  async function showMetrics() {
    const { from, to } = metricsRange();
    const common = { platform: $("metrics-platform").value, k: $("metrics-k").value };
    const starts = [];
    for (let at = from; at < to; at += DAY_MS) starts.push(at);
    notice(`Reading ${starts.length} days…`);
    const reading = ++metricsReads;  // a later submit supersedes this one
    const days = await inBatches(starts.map((at) => () =>
      api("GET", "/metrics", { query: { ...common, from: iso(at), to: iso(at + DAY_MS) } })), 4);
    const whole = await api("GET", "/metrics", { query: { ...common, from: iso(from), to: iso(to) } });
    if (reading !== metricsReads) return;
    const labels = starts.map((at) => dayString(at).slice(5));
    lastDays = { days, labels };
    drawLines();
    const emptyMessage = "No impressions in this range: serve some feeds (the Feed page) or widen it.";
    const format = percentTick;
    MediarecCharts.bars($("chart-position"), whole.by_position.map((p) => ({
      label: String(p.position), value: p.pac.value,
      low: p.pac.ci95 ? p.pac.ci95[0] : null, high: p.pac.ci95 ? p.pac.ci95[1] : null,
      detail: `${pct(p.pac.value)} of ${p.pac.denominator}, 95% ${interval(p.pac.ci95)}`,
    })), { label: "PaC by position", format, emptyMessage, xName: "position" });
    const coverage = whole.coverage;
    const tile = (name, value, detail) => node("div", { class: "tile" },
      node("span", { class: "tile-name" }, name), node("strong", {}, value), node("span", { class: "hint" }, detail));
    $("metrics-summary").replaceChildren(
      tile("Impressions", String(whole.pac.denominator), `${dayString(from)} to ${dayString(to - 1)}`),
      tile("PaC", pct(whole.pac.value), `95% ${interval(whole.pac.ci95)}`),
      tile("CTR", pct(whole.ctr.value), `95% ${interval(whole.ctr.ci95)}`),
      tile("Coverage", pct(coverage.value), `${coverage.items_shown} of ${coverage.catalog_items} items shown`),
      tile("Online AUC", num(whole.online_auc.value), `${whole.online_auc.count} feeds`),
    );
    // the versions served in the range; a and b preselected from the arms they served
    const versions = [...new Set(whole.breakdown.map((p) => p.model_version))].sort();
    const servedIn = (arm) => {
      const shown = new Map();
      for (const p of whole.breakdown.filter((p) => p.arm === arm)) {
        shown.set(p.model_version, (shown.get(p.model_version) || 0) + p.pac.denominator);
      }
      return [...shown].sort((x, y) => y[1] - x[1]).map(([v]) => v)[0];
    };
    for (const [id, arm, pick] of [["ab-a", "a", 0], ["ab-b", "b", 1]]) {
      const select = $(id);
      const chosen = select.value;
      select.replaceChildren(...versions.map((v) => node("option", { value: v }, v)));
      select.value = versions.includes(chosen) ? chosen
        : servedIn(arm) || versions[Math.min(pick, versions.length - 1)] || "";
    }
    notice(`Metrics for ${starts.length} days read.`);
  }

  async function showComparison() {
    const { from, to } = metricsRange();
    const a = $("ab-a").value;
    const b = $("ab-b").value;
    if (!a || !b) throw new Error("Show the metrics first: the versions to compare are the ones served in the range.");
    const query = { a, b, from: iso(from), to: iso(to), platform: $("metrics-platform").value,
                    k: $("metrics-k").value, share: $("ab-share").value };
    const result = await api("GET", "/metrics/compare", { query });
    const arm = (name) => {
      const r = result[name];
      return [name, r.model_version, String(r.users), String(r.impressions), pct(r.pac.value), pct(r.ctr.value)];
    };
    const diff = (metric) => {
      const d = result[metric].difference;
      const z = result[metric].pooled_z_test;
      return [metric.toUpperCase(), d.value === null ? "—" : `${(100 * d.value).toFixed(2)} pt`,
              d.ci95 ? `[${(100 * d.ci95[0]).toFixed(2)}, ${(100 * d.ci95[1]).toFixed(2)}] pt` : "—",
              d.p_value === null ? "—" : d.p_value.toPrecision(2),
              z.p_value === null ? "—" : z.p_value.toPrecision(2)];
    };
    const srm = result.sample_ratio;
    $("ab-view").replaceChildren(
      table("Arms", ["arm", "version", "users", "impressions", "PaC", "CTR"], [arm("a"), arm("b")]),
      table("Difference b − a (users as the unit, delta method)",
        ["metric", "difference", "95% interval", "p-value", "pooled z-test p (overstates certainty)"],
        [diff("pac"), diff("ctr")]),
      node("p", { class: "meta" }, `Sample ratio: ${srm.users_per_arm.a} users in a, ${srm.users_per_arm.b} in b; ` +
        `expected share of b ${srm.expected_b_share}, observed ${srm.observed_b_share === null ? "—" : srm.observed_b_share.toFixed(3)}` +
        (srm.p_value === null ? "" : ` (p = ${srm.p_value.toPrecision(2)})`)),
      ...result.warnings.map((w) => node("p", { class: "warning", role: "note" }, `⚠ ${w}`)),
    );
  }

  // -- the models page ----------------------------------------------------------------------
  async function showModels() {
    const registry = await api("GET", "/models");
    const metricNames = [...new Set(registry.models.flatMap((m) => Object.keys(m.metrics || {})))]
      .filter((name) => typeof registry.models.find((m) => m.metrics && name in m.metrics).metrics[name] === "number")
      .sort();
    const ab = registry.ab;
    $("models-view").replaceChildren(
      node("p", { class: "meta" },
        registry.active_version ? `Active: ${registry.active_version}. ` : "No model is active: everyone gets the popularity baseline. ",
        ab.model_version
          ? `A/B test: ${ab.model_version} serves arm b, ${pct(ab.share)} of users; arm a gets ` +
            (registry.active_version ? `the active model, ${registry.active_version}.` : "the popularity baseline.")
          : "No A/B test is configured (MEDIAREC_AB_MODEL_VERSION)."),
      table("Registered model versions",
        ["version", "registered", "state", "A/B arm", "split", "users", "items", ...metricNames],
        registry.models.map((m) => [
          m.version, when(m.created_at),
          m.active ? "active" : m.version === ab.model_version ? "A/B arm b" : "registered",
          m.arm ? `${m.arm} (${pct(m.arm === "b" ? ab.share : 1 - ab.share)})` : "—",
          m.split, m.users === null ? "—" : String(m.users), m.items === null ? "—" : String(m.items),
          ...metricNames.map((name) => (m.metrics && typeof m.metrics[name] === "number" ? num(m.metrics[name]) : "—")),
        ])),
    );
  }

  // -- pages and the key --------------------------------------------------------------------
  const PAGES = { feed: null, user: null, metrics: null, models: showModels };

  function route() {
    const named = (window.location.hash.match(/^#\/(\w+)/) || [])[1];
    const page = named in PAGES ? named : "feed";
    for (const name of Object.keys(PAGES)) {
      $(`page-${name}`).hidden = name !== page;
      const link = document.querySelector(`a[data-page="${name}"]`);
      if (name === page) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (PAGES[page] && sessionStorage.getItem(KEY)) guarded(PAGES[page])();
  }

  function showKeyState() {
    const key = sessionStorage.getItem(KEY);
    $("key-state").textContent = key ? `key ${key.slice(0, 16)}… in use (this tab only)` : "no key";
  }

  function init() {
    const today = Date.parse(new Date().toISOString().slice(0, 10) + "T00:00:00Z");
    $("metrics-to").value = dayString(today);
    $("metrics-from").value = dayString(today - 13 * DAY_MS);
    $("api-base").value = apiBase();
    showKeyState();
    $("connect").addEventListener("submit", guarded(async () => {
      sessionStorage.setItem(KEY, $("api-key").value.trim());
      sessionStorage.setItem(BASE, $("api-base").value.trim());
      $("api-key").value = "";
      itemCache.clear();
      showKeyState();
      await fillPlatforms();
      notice("Key set for this tab.");
      route();
    }));
    $("forget-key").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      showKeyState();
      notice("Key forgotten.");
    });
    $("error-close").addEventListener("click", clearError);
    $("feed-form").addEventListener("submit", guarded(showFeed));
    $("feed-user").addEventListener("input", (e) => searchUsers(e.target));
    $("user-id").addEventListener("input", (e) => searchUsers(e.target));
    $("feed-new-user").addEventListener("click", guarded(async () => {
      $("feed-user").value = `anon-${randomId().slice(0, 12)}`;
      notice(`New anonymous user ${$("feed-user").value}: the feed starts from popularity and learns from the events sent.`);
      $("feed-user").focus();
    }));
    $("user-form").addEventListener("submit", guarded(showUser));
    $("user-delete").addEventListener("click", guarded(deleteUser));
    $("metrics-form").addEventListener("submit", guarded(showMetrics));
    $("ab-form").addEventListener("submit", guarded(showComparison));
    $("metrics-lines").addEventListener("change", drawLines);
    window.addEventListener("hashchange", route);
    fillPlatforms();
    route();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
