// SpeechBatch console: one page, three views (#/monitoring, #/jobs/<id>, #/docs), drawn from the
// console's JSON routes. Every value from the service goes into the page as text (textContent),
// never as markup, so a job id or a model name cannot inject anything.
"use strict";

(function () {
  const POLL_MS = 2000;
  const FINAL = new Set(["completed", "canceled", "failed"]);
  const STATUSES = ["initializing", "waiting", "running", "completed", "canceled", "failed"];
  const main = document.getElementById("main");
  const announcer = document.getElementById("announcer");
  const signOut = document.getElementById("sign-out");

  const state = {
    csrf: null,        // the session's CSRF token (null when signed in by basic auth)
    signedIn: false,
    timer: null,       // the running view's poll
    filter: "",
    search: "",
    jobs: [],
    docs: null,
  };

  // ---- small DOM helpers --------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  function announce(text) {
    announcer.textContent = "";
    setTimeout(() => { announcer.textContent = text; }, 50);
  }
  function capital(s) { return s.charAt(0).toUpperCase() + s.slice(1); }
  // Text from the OpenAPI document, whose `backticks` mark code: text and <code> nodes.
  function prose(text) {
    return String(text || "").split("`").map((part, i) => (i % 2 ? el("code", {}, part) : part));
  }

  // ---- talking to the service ---------------------------------------------------------------
  class NotSignedIn extends Error {}
  async function call(path, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    opts.headers = Object.assign({ Accept: "application/json" }, opts.headers);
    if (opts.method && opts.method !== "GET") {
      // A header no cross-site form can send; the session's token when signed in by form.
      opts.headers["X-CSRF-Token"] = state.csrf || "basic";
    }
    const res = await fetch("/console/api/" + path, opts);
    if (res.status === 401 && path !== "login") throw new NotSignedIn();
    if (res.status === 204) return null;
    let body = null;
    try { body = await res.json(); } catch (_) { body = null; }
    if (!res.ok) {
      const err = new Error((body && body.error) || ("HTTP " + res.status));
      err.status = res.status;
      throw err;
    }
    return body;
  }

  // ---- formatting ---------------------------------------------------------------------------
  const dateFormat = new Intl.DateTimeFormat("en-US", {
    timeZone: "UTC", month: "short", day: "numeric", year: "numeric", hour: "numeric", minute: "2-digit",
  });
  function parseTime(s) {
    // 2018-12-30T11:33:29.912+0000 -> a Date (the offset is always +0000).
    return s ? new Date(s.replace(/\+0000$/, "Z")) : null;
  }
  function formatTime(s) { const d = parseTime(s); return d ? dateFormat.format(d) : "—"; }
  function processingMinutes(job) {
    const start = parseTime(job.created);
    let end;
    if (job.status === "completed") end = parseTime(job.finished || job.updated);
    else if (FINAL.has(job.status)) end = parseTime(job.updated);
    else end = new Date();
    return Math.max(0, (end - start) / 60000);
  }
  function minutes(job) { return processingMinutes(job).toFixed(1); }
  function percent(job) { return Math.floor(job.progress * 100); }
  function statusBadge(status) {
    return el("span", { class: "status" },
      el("span", { class: "dot " + status, "aria-hidden": "true" }), capital(status));
  }

  // ---- the views ----------------------------------------------------------------------------
  function stopPolling() {
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
  }
  function poll(fn) {
    stopPolling();
    const tick = async () => {
      try { await fn(); } catch (e) { handleError(e); return; }
      state.timer = setTimeout(tick, POLL_MS);
    };
    state.timer = setTimeout(tick, POLL_MS);
  }
  function handleError(e) {
    if (e instanceof NotSignedIn) { showLogin(); return; }
    const box = document.getElementById("view-error");
    if (box) { box.hidden = false; box.textContent = e.message; }
  }
  function setTab(name) {
    for (const id of ["monitoring", "docs"]) {
      const tab = document.getElementById("tab-" + id);
      if (id === name) tab.setAttribute("aria-current", "page");
      else tab.removeAttribute("aria-current");
    }
  }
  function render(title, ...nodes) {
    document.title = title + " · SpeechBatch console";
    main.replaceChildren(...nodes.filter(Boolean),
      el("p", { id: "view-error", class: "error-box", role: "alert", hidden: true }));
  }

  // Sign-in ----------------------------------------------------------------------------------
  function showLogin(message) {
    stopPolling();
    state.signedIn = false;
    signOut.hidden = true;
    setTab(null);
    const error = el("p", { id: "login-error", class: "form-error", role: "alert" }, message || "");
    const input = el("input", {
      id: "api-key", name: "api_key", type: "password", autocomplete: "current-password", required: true,
      "aria-describedby": "api-key-help",
    });
    const form = el("form", { id: "login-form", onsubmit: async (ev) => {
      ev.preventDefault();
      error.textContent = "";
      try {
        const body = await call("login", {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ api_key: input.value }),
        });
        state.csrf = body.csrf_token;
        state.signedIn = true;
        signOut.hidden = false;
        input.value = "";
        route();
      } catch (e) {
        error.textContent = e.message;
        input.focus();
      }
    } },
      el("div", { class: "field" },
        el("label", { for: "api-key" }, "API key"),
        input,
        el("small", { id: "api-key-help" }, "The key the REST API takes as the password of user apikey.")),
      el("button", { type: "submit", class: "primary" }, "Sign in"),
      error);
    render("Sign in", el("section", { class: "login", "aria-labelledby": "login-title" },
      el("h1", { id: "login-title" }, "Sign in"),
      el("p", {}, "The console shows and manages this service's batch jobs. The Documentation tab needs no key."),
      form));
    input.focus();
  }

  async function ensureSession() {
    if (state.signedIn) return true;
    try {
      const s = await call("session");
      state.csrf = s.csrf_token;
      state.signedIn = true;
      signOut.hidden = s.signed_in_by !== "session";
      return true;
    } catch (e) {
      if (e instanceof NotSignedIn) { showLogin(); return false; }
      throw e;
    }
  }

  // Monitoring -------------------------------------------------------------------------------
  const COLUMNS = [
    ["id", "Id"], ["created", "Created (UTC)"], ["status", "Status"],
    ["minutes", "Processing Time (min)", "num"], ["progress", "Progress (%)", "num"],
    ["total", "Total Number of Files", "num"], ["completed", "Completed Files", "num"],
    ["failed", "Failed Files", "num"],
  ];

  function fillRow(row, job) {
    const cells = row.cells;
    const link = cells[0].firstChild;
    link.textContent = job.batch_id;
    link.href = "#/jobs/" + encodeURIComponent(job.batch_id);
    cells[1].textContent = formatTime(job.created);
    const status = cells[2];
    if (status.dataset.value !== job.status) {
      status.replaceChildren(statusBadge(job.status));
      status.dataset.value = job.status;
    }
    cells[3].textContent = minutes(job);
    const pct = percent(job);
    if (cells[4].dataset.value !== String(pct)) {
      cells[4].replaceChildren(
        el("span", { class: "bar", "aria-hidden": "true" }, el("span", { style: null })),
        String(pct));
      cells[4].querySelector(".bar > span").style.width = pct + "%";
      cells[4].dataset.value = String(pct);
    }
    cells[5].textContent = job.total_count;
    cells[6].textContent = job.successful_count;
    cells[7].textContent = job.failed_count;
  }

  function newRow(job) {
    const row = el("tr", { "data-batch-id": job.batch_id });
    for (const [key, , cls] of COLUMNS) {
      const cell = el(key === "id" ? "th" : "td", { "data-col": key, class: cls, scope: key === "id" ? "row" : null });
      if (key === "id") cell.append(el("a", {}));
      row.append(cell);
    }
    return row;
  }

  function visibleJobs() {
    const q = state.search.trim().toLowerCase();
    return state.jobs.filter((j) =>
      (!state.filter || j.status === state.filter) && (!q || j.batch_id.toLowerCase().includes(q)));
  }

  function drawJobs() {
    const body = document.getElementById("jobs-body");
    if (!body) return;
    const jobs = visibleJobs();
    const rows = new Map([...body.querySelectorAll("tr[data-batch-id]")].map((r) => [r.dataset.batchId, r]));
    const wanted = jobs.map((j) => j.batch_id);
    for (const [id, row] of rows) if (!wanted.includes(id)) { row.remove(); rows.delete(id); }
    jobs.forEach((job) => {
      let row = rows.get(job.batch_id);
      if (!row) { row = newRow(job); rows.set(job.batch_id, row); }
      fillRow(row, job);
    });
    // Reorder only when the order changed: moving a row would take focus from a link in it.
    const current = [...body.querySelectorAll("tr[data-batch-id]")].map((r) => r.dataset.batchId);
    if (current.join("\n") !== wanted.join("\n")) wanted.forEach((id) => body.append(rows.get(id)));
    const empty = document.getElementById("jobs-empty");
    empty.hidden = jobs.length > 0;
    empty.textContent = state.jobs.length ? "No job matches the filter." : "No batch jobs yet. Create one with POST /v1/batches (see Documentation).";
    document.getElementById("jobs-count").textContent =
      jobs.length === state.jobs.length ? state.jobs.length + " jobs" : jobs.length + " of " + state.jobs.length + " jobs";
  }

  function drawService(s) {
    const set = (id, v) => { const n = document.getElementById(id); if (n) n.textContent = v; };
    set("svc-waiting", s.waiting + s.initializing);
    set("svc-running", s.running);
    set("svc-rate", s.files_per_minute === null ? "measuring…" : s.files_per_minute.toFixed(1));
    set("svc-audio", s.audio_hours.toFixed(2));
    set("svc-jobs", state.jobs.length);
  }

  function drawModels(list, error) {
    const section = document.getElementById("models");
    if (!section) return;
    const content = [];
    if (error) content.push(el("p", { class: "notice" }, error));
    else if (!list.length) content.push(el("p", { class: "empty" }, "No custom language models. Create one with POST /v1/customizations."));
    else {
      content.push(el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": "models-title" },
        el("table", { id: "models-table" },
          el("thead", {}, el("tr", {}, ["Name", "Id", "Base model", "Status", "Created (UTC)", "Error"]
            .map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, list.map((m) => el("tr", { "data-customization-id": m.customization_id },
            el("td", {}, m.name), el("td", {}, el("code", {}, m.customization_id)), el("td", {}, m.base_model_name),
            el("td", { "data-col": "status" }, capital(m.status)), el("td", {}, formatTime(m.created)),
            el("td", {}, m.error || "")))))));
    }
    section.querySelector(".models-content").replaceChildren(...content);
  }

  async function refreshOverview() {
    const data = await call("overview");
    state.jobs = data.jobs;
    drawJobs();
    drawService(data.service);
    const stamp = document.getElementById("jobs-updated");
    if (stamp) stamp.textContent = "Updated " + new Date().toLocaleTimeString("en-US", { timeZone: "UTC" }) + " UTC";
  }
  async function refreshModels() {
    try {
      const m = await call("customizations");
      drawModels(m.customizations, null);
    } catch (e) {
      if (e instanceof NotSignedIn) throw e;
      drawModels([], "Custom language models: " + e.message);
    }
  }

  async function showMonitoring() {
    setTab("monitoring");
    if (!(await ensureSession())) return;
    const statusSelect = el("select", { id: "status-filter", onchange: (ev) => { state.filter = ev.target.value; drawJobs(); } },
      el("option", { value: "" }, "All statuses"),
      STATUSES.map((s) => el("option", { value: s, selected: state.filter === s }, capital(s))));
    const search = el("input", { id: "job-search", type: "search", value: state.search, placeholder: "Part of a job id",
      oninput: (ev) => { state.search = ev.target.value; drawJobs(); },
      onchange: (ev) => { state.search = ev.target.value; drawJobs(); } });
    const card = (id, label) => el("div", { class: "card" }, el("dt", {}, label), el("dd", { id }, "…"));
    render("Monitoring",
      el("h1", {}, "Dashboard"),
      el("section", { "aria-labelledby": "service-title" },
        el("h2", { id: "service-title" }, "Service"),
        el("dl", { class: "cards" },
          card("svc-waiting", "Jobs waiting"), card("svc-running", "Jobs running"),
          card("svc-rate", "Files per minute (last 5 min)"), card("svc-audio", "Audio hours transcribed"),
          card("svc-jobs", "Jobs listed"))),
      el("section", { "aria-labelledby": "jobs-title" },
        el("h2", { id: "jobs-title" }, "Batch Jobs"),
        el("div", { class: "toolbar" },
          el("div", { class: "field" }, el("label", { for: "status-filter" }, "Status"), statusSelect),
          el("div", { class: "field" }, el("label", { for: "job-search" }, "Search by id"), search),
          el("span", { id: "jobs-updated", class: "updated", "aria-live": "off" })),
        el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-labelledby": "jobs-title" },
          el("table", { id: "jobs-table" },
            el("caption", { id: "jobs-count" }, ""),
            el("thead", {}, el("tr", {}, COLUMNS.map(([, label, cls]) => el("th", { scope: "col", class: cls }, label)))),
            el("tbody", { id: "jobs-body" })),
          el("p", { id: "jobs-empty", class: "empty", hidden: true }))),
      el("section", { id: "models", "aria-labelledby": "models-title" },
        el("h2", { id: "models-title" }, "Custom language models"),
        el("div", { class: "models-content" }, el("p", { class: "empty" }, "Loading…"))));
    await refreshOverview();
    await refreshModels();
    let n = 0;
    poll(async () => {
      await refreshOverview();
      if (++n % 5 === 0) await refreshModels();
    });
  }

  // A job's page ------------------------------------------------------------------------------
  const PARAM_NAMES = {
    model: "model", wordConfidence: "word_confidence", smartFormatting: "smart_formatting",
    redaction: "redaction", profanityFilter: "profanity_filter", customizationWeight: "customization_weight",
    splitChannels: "split_channels", speechAnalytics: "speech_analytics",
  };

  function confirmAction(title, text, yes) {
    const dialog = document.getElementById("confirm");
    document.getElementById("confirm-title").textContent = title;
    document.getElementById("confirm-text").textContent = text;
    document.getElementById("confirm-yes").textContent = yes;
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
      dialog.returnValue = "";
      dialog.showModal();
      document.getElementById("confirm-no").focus();
    });
  }

  function bars(counts, order, cls) {
    const total = order.reduce((a, k) => a + (counts[k] || 0), 0);
    return order.map((k) => {
      const n = counts[k] || 0;
      const pct = total ? Math.round((n / total) * 100) : 0;
      const fill = el("div", { class: "fill " + (cls ? k : "") });
      fill.style.width = pct + "%";
      return el("div", { class: "chart-row", "data-key": k },
        el("span", {}, capital(k)),
        el("div", { class: "track", role: "img", "aria-label": capital(k) + ": " + n + " turns, " + pct + "%" }, fill),
        el("span", { class: "num" }, String(n)));
    });
  }

  function analyticsSection(d) {
    if (!d.params.speechAnalytics) return null;
    const a = d.analytics;
    const parts = [el("h2", { id: "analytics-title" }, "Speech analytics")];
    if (!a) {
      parts.push(el("p", { class: "notice" }, FINAL.has(d.job.status)
        ? "No analytics summary was recorded for this job."
        : "Analytics are added once every file is recognised."));
    } else {
      parts.push(el("p", {}, a.files + " files, " + a.turns + " speaker turns analysed. The archives Conversation.zip and Speaker.zip are in the output bucket."));
      const tones = Object.keys(a.tones).sort((x, y) => a.tones[y] - a.tones[x] || x.localeCompare(y));
      parts.push(el("div", { class: "grid-2" },
        el("div", { id: "analytics-sentiment" }, el("h3", {}, "Sentiment of turns"), bars(a.sentiment, ["positive", "neutral", "negative"], true)),
        el("div", { id: "analytics-tones" }, el("h3", {}, "Tones of turns"), tones.length ? bars(a.tones, tones, false) : el("p", {}, "No tone found."))));
      parts.push(el("div", { class: "grid-2" },
        el("div", { id: "analytics-topics" }, el("h3", {}, "Topics"),
          el("ul", {}, a.topics.map((t) => el("li", {}, el("code", {}, t.topic_name), " — " + t.files + (t.files === 1 ? " file" : " files"))))),
        el("div", { id: "analytics-keywords" }, el("h3", {}, "Top keywords"),
          el("p", {}, a.keywords.map((k) => el("span", { class: "pill" }, k.text + " (" + k.count + ")"))))));
    }
    return el("section", { "aria-labelledby": "analytics-title" }, parts);
  }

  function drawJob(d) {
    const job = d.job;
    const out = document.getElementById("job-view");
    if (!out) return;
    const row = (label, value, id) => [el("dt", {}, label), el("dd", { id }, value)];
    const actions = el("div", { class: "actions" },
      !FINAL.has(job.status) && el("button", { id: "cancel-job", type: "button", class: "secondary", onclick: () => act("cancel", job) }, "Cancel job"),
      el("button", { id: "delete-job", type: "button", class: "danger", onclick: () => act("delete", job) }, "Delete job"));
    const params = Object.entries(d.params).map(([k, v]) => [PARAM_NAMES[k] || k, v]);
    params.push(["language_customization_id", d.language_customization_id || "none"]);
    out.replaceChildren(...[
      el("p", {}, statusBadge(job.status)),
      actions,
      job.status === "failed" && el("div", { class: "error-box", id: "job-error" }, el("strong", {}, "Error: "), job.error_message || "(no message)"),
      el("section", { "aria-labelledby": "summary-title" },
        el("h2", { id: "summary-title" }, "Summary"),
        el("dl", { class: "details" },
          row("Progress", percent(job) + " %", "job-progress"),
          row("Files", job.total_count + " in total, " + job.successful_count + " completed, " + job.failed_count + " failed", "job-files"),
          row("Created (UTC)", formatTime(job.created)),
          row("Last change (UTC)", formatTime(job.updated)),
          row("Finished (UTC)", job.finished ? formatTime(job.finished) : "—"),
          row("Processing time", minutes(job) + " min"),
          row("Audio transcribed", (d.audio_seconds / 60).toFixed(1) + " min"),
          row("Input bucket", job.input_bucket_name + " (" + job.input_bucket_location + ")"),
          row("Output bucket", job.output_bucket_name + " (" + job.output_bucket_location + ")"))),
      el("section", { "aria-labelledby": "params-title" },
        el("h2", { id: "params-title" }, "Parameters"),
        el("dl", { class: "details", id: "job-params" }, params.map(([k, v]) => row(k, v === null || v === undefined ? "default" : String(v))))),
      analyticsSection(d),
    ].filter(Boolean));
  }

  async function act(kind, job) {
    const yes = kind === "cancel"
      ? await confirmAction("Cancel this job?", "Job " + job.batch_id + " stops: no new file starts, files in progress finish, outputs already written stay.", "Cancel job")
      : await confirmAction("Delete this job?", "The record of job " + job.batch_id + " is removed" + (FINAL.has(job.status) ? "" : " (it is canceled first)") + ". Its outputs stay in the bucket.", "Delete job");
    if (!yes) return;
    try {
      if (kind === "cancel") {
        await call("batches/" + encodeURIComponent(job.batch_id) + "/cancel", { method: "POST" });
        announce("Job " + job.batch_id + " canceled.");
        await loadJob(job.batch_id);
      } else {
        await call("batches/" + encodeURIComponent(job.batch_id), { method: "DELETE" });
        announce("Job " + job.batch_id + " deleted.");
        location.hash = "#/monitoring";
      }
    } catch (e) { handleError(e); }
  }

  async function loadJob(id) {
    const d = await call("batches/" + encodeURIComponent(id));
    drawJob(d);
    return d;
  }

  async function showJob(id) {
    setTab("monitoring");
    if (!(await ensureSession())) return;
    render("Job " + id,
      el("p", {}, el("a", { href: "#/monitoring" }, "← All jobs")),
      el("h1", {}, "Job ", el("code", {}, id)),
      el("div", { id: "job-view" }, el("p", {}, "Loading…")));
    try {
      const d = await loadJob(id);
      if (!FINAL.has(d.job.status) || (d.params.speechAnalytics && !d.analytics)) poll(() => loadJob(id));
    } catch (e) {
      if (e.status === 404) {
        document.getElementById("job-view").replaceChildren(el("p", { class: "notice" }, "There is no job " + id + " (it may have been deleted)."));
      } else handleError(e);
    }
  }

  // Documentation -----------------------------------------------------------------------------
  function resolve(doc, node) {
    // Follows a local $ref ("#/components/...") to what it names.
    while (node && node.$ref) {
      node = node.$ref.replace(/^#\//, "").split("/").reduce((n, k) => n && n[k], doc);
    }
    return node || {};
  }
  function operations(doc) {
    const ops = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      const shared = item.parameters || [];
      for (const [method, op] of Object.entries(item)) {
        if (method === "parameters") continue;
        const params = shared.concat(op.parameters || []).map((p) => resolve(doc, p));
        ops.push({ path, method, op, params, tag: (op.tags || ["Service"])[0] });
      }
    }
    return ops;
  }
  function curlFor(doc, o) {
    const base = location.origin;
    const vars = o.path.replace(/\{(\w+)\}/g, (_, n) => "$" + n.toUpperCase());
    const query = o.params.filter((p) => p.in === "query" && p.required)
      .map((p) => p.name + "=" + ((p.schema && p.schema.enum && p.schema.enum[0]) || "VALUE"));
    const lines = ['curl -u "apikey:$API_KEY"'];
    if (o.method !== "get") lines.push("-X " + o.method.toUpperCase());
    const content = o.op.requestBody ? o.op.requestBody.content || {} : {};
    if (content["multipart/form-data"]) {
      const schema = resolve(doc, content["multipart/form-data"].schema);
      for (const name of schema.required || []) {
        const p = resolve(doc, (schema.properties || {})[name]);
        lines.push(p.format === "binary" ? "-F " + name + "=@" + name.replace(/_file$/, "") + ".json" : "-F " + name + "=" + (p.example || "my-" + name.replace(/_/g, "-")));
      }
    } else if (content["application/json"]) {
      const schema = resolve(doc, content["application/json"].schema);
      const example = {};
      for (const name of schema.required || []) {
        const p = resolve(doc, (schema.properties || {})[name]);
        example[name] = p.example !== undefined ? p.example : (p.enum ? p.enum[0] : (p.type === "array" ? [] : "…"));
      }
      lines.push("-H \"Content-Type: application/json\"", "-d '" + JSON.stringify(example) + "'");
    } else if (content["text/plain"]) {
      lines.push("--data-binary @corpus.txt");
    } else if (Object.keys(content).length) {
      lines.push("-H \"Content-Type: " + Object.keys(content)[0] + "\"", "--data-binary @audio-file");
    }
    lines.push('"' + base + vars + (query.length ? "?" + query.join("&") : "") + '"');
    return lines.join(" \\\n  ");
  }
  function code(text) { return el("pre", {}, el("code", {}, text)); }
  function opBlock(doc, o) {
    const params = o.params.filter((p) => p.in !== "header");
    return el("article", { class: "operation", id: "op-" + (o.op.operationId || o.method + o.path) },
      el("h4", {}, el("span", { class: "method" }, o.method.toUpperCase()), " ", el("code", {}, o.path)),
      el("p", {}, prose(o.op.summary)),
      o.op.description && el("p", {}, prose(o.op.description)),
      params.length > 0 && el("p", {}, "Parameters: ", params.map((p, i) => [i ? ", " : "", el("code", {}, p.name), p.required ? " (required)" : ""])),
      el("p", {}, "Answers: ", Object.keys(o.op.responses || {}).join(", ")),
      code(curlFor(doc, o)));
  }
  function paramRows(doc, names) {
    return names.map((name) => {
      const p = resolve(doc, (doc.components.parameters || {})[name]);
      const s = p.schema || {};
      return el("tr", { "data-param": name },
        el("th", { scope: "row" }, el("code", {}, name)),
        el("td", {}, s.type || "string"),
        el("td", {}, s.default !== undefined ? String(s.default) : "—"),
        el("td", {}, s.enum ? s.enum.join(", ") : (s.minimum !== undefined ? s.minimum + " to " + s.maximum : "")),
        el("td", {}, prose(p.description)));
    });
  }
  function table(id, headers, rows) {
    return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": id.replace(/-/g, " ") },
      el("table", { id }, el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))), el("tbody", {}, rows)));
  }

  async function showDocs() {
    stopPolling();
    setTab("docs");
    if (!state.docs) state.docs = await call("docs");
    const { openapi: doc, constants: c } = state.docs;
    const ops = operations(doc);
    const byId = (id) => ops.find((o) => o.op.operationId === id);
    const tagText = (name) => ((doc.tags || []).find((t) => t.name === name) || {}).description || "";
    const sections = [
      ["overview", "What the service does"], ["auth", "Authentication"], ["workflow", "The batch workflow"],
      ["statuses", "Job statuses"], ["parameters", "Parameters"], ["models", "Base models"],
      ["analytics", "Speech analytics"], ["custom", "Custom language models"], ["limits", "Limits"],
      ["reference", "Every endpoint"],
    ];
    const sec = (id, ...body) => el("section", { id: "doc-" + id, "aria-labelledby": "doc-" + id + "-title" },
      el("h2", { id: "doc-" + id + "-title" }, sections.find((s) => s[0] === id)[1]), ...body);
    const analyticsParam = resolve(doc, doc.components.parameters.speech_analytics);
    const workflow = ["createBatch", "listBatches", "getBatch", "cancelBatch", "deleteBatch"].map(byId).filter(Boolean);
    const customFlow = ["createLanguageModel", "addCorpus", "addWords", "trainLanguageModel", "getLanguageModel"].map(byId).filter(Boolean);
    const tags = [...new Set(ops.map((o) => o.tag))];
    render("Documentation", el("div", { class: "docs" },
      el("h1", {}, "Documentation"),
      el("nav", { "aria-label": "Contents" }, el("ul", {}, sections.map(([id, t]) => el("li", {}, el("a", { href: "#/docs", "data-target": "doc-" + id, onclick: (ev) => {
        ev.preventDefault();
        const target = document.getElementById("doc-" + id);
        target.scrollIntoView();
        target.querySelector("h2").setAttribute("tabindex", "-1");
        target.querySelector("h2").focus();
      } }, t))))),
      sec("overview", el("p", {}, prose(doc.info.description)),
        el("p", {}, "The machine-readable description is at ", el("a", { href: "/v1/openapi.yaml" }, "/v1/openapi.yaml"), ".")),
      sec("auth", el("p", {}, prose(doc.components.securitySchemes.apikey.description),
        " Every example below reads the key from the shell variable ", el("code", {}, "API_KEY"), "."),
        code('export API_KEY=…  # for the embedded service: cat data/api-key')),
      sec("workflow", el("p", {}, prose(tagText("Batches"))),
        el("ol", {}, workflow.map((o) => el("li", {}, opBlock(doc, o))))),
      sec("statuses", table("status-table", ["Status", "Final", "Meaning"],
        c.statuses.map((s) => el("tr", {}, el("td", {}, statusBadge(s.status)), el("td", {}, s.final ? "yes" : "no"), el("td", {}, s.description))))),
      sec("parameters", el("p", {}, "Recognition options, given in the query string of POST /v1/batches (and POST /v1/recognize). Every file of a job is recognised with the same options."),
        table("param-table", ["Name", "Type", "Default", "Values", "What it does"], paramRows(doc, c.recognition_params))),
      sec("models", table("model-table", ["Model", "Sampling rate", "For"],
        c.models.map((m) => el("tr", {}, el("td", {}, el("code", {}, m.name), m.name === c.default_model ? " (default)" : ""), el("td", {}, m.rate + " Hz"), el("td", {}, m.description))))),
      sec("analytics", el("p", {}, prose(analyticsParam.description)),
        el("p", {}, "Tones: ", c.tones.map((t, i) => [i ? ", " : "", el("code", {}, t.tone_id)]), "."),
        el("p", {}, "Sentiment labels: ", c.sentiment_labels.map((l, i) => [i ? ", " : "", el("code", {}, l)]), "."),
        el("p", {}, "Archives at the root of the output bucket: ", c.archives.map((a, i) => [i ? ", " : "", el("code", {}, a)]), "."),
        byId("createBatch") && code(curlFor(doc, byId("createBatch")).replace("function=recognize", "function=recognize&speech_analytics=true"))),
      sec("custom", el("p", {}, prose(tagText("Custom language models"))),
        el("p", {}, "A job uses a model with ", el("code", {}, "language_customization_id"), "; ",
          el("code", {}, "customization_weight"), " defaults to " + c.default_customization_weight + ". A model holds at most " + c.limits.custom_words.toLocaleString("en-US") + " words of its own."),
        el("ol", {}, customFlow.map((o) => el("li", {}, opBlock(doc, o))))),
      sec("limits", el("ul", {},
        el("li", {}, "POST /v1/batches body: at most " + c.limits.request_body_bytes.toLocaleString("en-US") + " bytes."),
        el("li", {}, "POST /v1/recognize audio: at most " + c.limits.recognize_body_bytes.toLocaleString("en-US") + " bytes."),
        el("li", {}, "Corpus names: at most " + c.limits.corpus_name_chars + " characters."))),
      sec("reference", tags.map((t) => el("div", {}, el("h3", {}, t), tagText(t) && el("p", {}, prose(tagText(t))),
        ops.filter((o) => o.tag === t).map((o) => opBlock(doc, o))))),
    ));
  }

  // ---- routing ------------------------------------------------------------------------------
  async function route() {
    stopPolling();
    const hash = location.hash || "#/monitoring";
    try {
      if (hash.startsWith("#/jobs/")) await showJob(decodeURIComponent(hash.slice("#/jobs/".length)));
      else if (hash === "#/docs") await showDocs();
      else await showMonitoring();
    } catch (e) { handleError(e); }
  }

  signOut.addEventListener("click", async () => {
    try { await call("logout", { method: "POST" }); } catch (_) { /* signed out either way */ }
    state.csrf = null;
    showLogin("Signed out.");
  });
  window.addEventListener("hashchange", () => { route().then(() => main.focus()); });
  document.addEventListener("visibilitychange", () => {
    // No polling of a hidden tab; catch up at once when it shows again.
    if (document.hidden) stopPolling(); else if (state.signedIn) route();
  });
  route();
})();
