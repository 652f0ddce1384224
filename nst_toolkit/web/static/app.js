// The nst page: build the form from /api/options, submit a job, follow its progress, show results.
// Every option's default, range and help come from /api/options (the engines' config fields); the page
// sends only the options the user changed, so each engine otherwise runs at its own defaults.
"use strict";
const $ = (id) => document.getElementById(id);
let current = null;   // the running job's id
let events = null;    // its EventSource

async function init() {
  const opts = await (await fetch("/api/options")).json();
  for (const s of opts.samples) {
    for (const sel of [$("content-sample"), $("style-sample")]) sel.add(new Option(s.replace("_", " "), s));
  }
  for (const e of opts.engines) $("engines").append(engineBlock(e));
  $("job-form").addEventListener("submit", start);
  $("cancel").addEventListener("click", cancel);
  $("lightbox").addEventListener("click", closeZoom);
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeZoom(); });
}

// One engine: its checkbox, its summary and a control per option it has.
function engineBlock(e) {
  const block = document.createElement("div");
  block.className = "engine"; block.id = `engine-block-${e.name}`;
  const label = document.createElement("label");
  const cb = document.createElement("input");
  cb.type = "checkbox"; cb.name = "engine"; cb.value = e.name; cb.id = `engine-${e.name}`;
  cb.checked = e.kind === "one-pass";
  label.append(cb, ` ${e.name}`);
  const summary = document.createElement("span");
  summary.className = "summary"; summary.textContent = e.summary;
  const box = document.createElement("div");
  box.className = "engine-options"; box.id = `options-${e.name}`;
  for (const o of e.options) box.append(control(e.name, o));
  const sync = () => box.classList.toggle("off", !cb.checked);
  cb.addEventListener("change", sync); sync();
  block.append(label, summary, box);
  return block;
}

// A form control for one option: its default shown (capped at this server's limit), its range enforced.
function control(engine, o) {
  const label = document.createElement("label");
  label.title = o.help + (o.allowed ? ` [${o.allowed}]` : "") + (o.limit ? ` At most ${o.limit} on this server.` : "");
  const max = Math.min(o.max ?? Infinity, o.limit ?? Infinity);
  let el;
  let shown = o.default;
  if (typeof shown === "number" && shown > max) shown = max;  // what the server runs when nothing is sent
  if (o.choices) {
    el = document.createElement("select");
    for (const c of o.choices) el.add(new Option(c, c, c === shown, c === shown));
  } else if (o.type === "bool") {
    el = document.createElement("input");
    el.type = "checkbox"; el.checked = Boolean(shown);
  } else if (o.type === "int" || o.type === "float") {
    el = document.createElement("input");
    el.type = "number";
    el.step = o.type === "int" ? "1" : "any";
    if (o.min !== undefined) el.min = o.min;
    else if (o.above !== undefined) el.min = o.type === "int" ? Math.floor(o.above) + 1 : o.above;
    if (max !== Infinity) el.max = max;
    el.value = shown === null ? "" : shown;
    if (shown === null) el.placeholder = "default";
  } else {
    el = document.createElement("input");
    el.type = "text"; el.value = shown === null ? "" : shown;
  }
  el.id = `${o.name}-${engine}`; el.name = `${o.name}_${engine}`;
  el.dataset.default = valueOf(el);
  label.append(`${o.name.replaceAll("_", " ")} `, el);
  return label;
}

const valueOf = (el) => (el.type === "checkbox" ? String(el.checked) : el.value);

async function start(ev) {
  ev.preventDefault();
  $("message").textContent = "";
  const form = new FormData();
  const content = $("content").files[0];
  if (content) form.append("content", content); else form.append("content_sample", $("content-sample").value);
  for (const f of $("style").files) form.append("style", f);
  if ($("style-sample").value) form.append("style_sample", $("style-sample").value);
  const engines = [...document.querySelectorAll("input[name=engine]:checked")].map((c) => c.value);
  form.append("engines", engines.join(","));
  for (const e of engines) {
    for (const el of $(`options-${e}`).querySelectorAll("input, select")) {
      if (valueOf(el) !== el.dataset.default) form.append(el.name, valueOf(el));
    }
  }
  const res = await fetch("/api/jobs", { method: "POST", body: form });
  const body = await res.json().catch(() => ({ error: `the server answered ${res.status}` }));
  if (!res.ok) { $("message").textContent = body.error; return; }
  current = body.id;
  $("results").replaceChildren();
  $("report-line").hidden = true;
  $("cancel").disabled = false;
  $("start").disabled = true;
  $("results").scrollIntoView({ behavior: "smooth", block: "start" });
  follow(current);
}

function card(run) {
  let el = document.getElementById(`card-${run.engine}`);
  if (!el) {
    el = document.createElement("div");
    el.className = "card"; el.id = `card-${run.engine}`;
    el.innerHTML = `<h3><span class="name"></span><span class="seconds"></span></h3><progress max="1" value="0"></progress>`
      + `<img alt="" title="click to see it at its natural size"><div class="numbers"></div><a class="download" hidden>Download</a>`;
    el.querySelector(".name").textContent = run.engine;
    const img = el.querySelector("img");
    img.alt = `${run.engine} result`;
    img.addEventListener("click", () => zoom(img, run.engine));
    $("results").append(el);
  }
  return el;
}

function show(job) {
  const words = verdicts(job.engines);
  for (const run of job.engines) {
    const el = card(run);
    const bar = el.querySelector("progress");
    bar.max = run.total || 1; bar.value = run.state === "done" ? bar.max : run.step;
    const img = el.querySelector("img");
    const base = `/api/jobs/${job.id}/${run.engine}`;
    if (run.has_result) img.src = `${base}/result.png?v=${run.version}`;
    else if (run.has_preview) img.src = `${base}/preview.png?v=${run.version}`;
    const nums = el.querySelector(".numbers");
    nums.className = `numbers state-${run.state}`;
    if (run.state === "done") {
      const m = run.metrics;
      el.querySelector(".seconds").textContent = `${run.seconds.toFixed(1)} s`;
      const list = document.createElement("ul");
      for (const [text, title] of words.get(run.engine)) {
        const li = document.createElement("li");
        li.textContent = text; if (title) li.title = title;
        list.append(li);
      }
      nums.replaceChildren(list);
      nums.title = raw(m);
      nums.dataset.seconds = run.seconds;
      if (m.style_distance !== undefined) nums.dataset.style = m.style_distance;
      nums.dataset.content = m.content_distance;
      const a = el.querySelector(".download");
      a.href = `${base}/result.png?download=1`; a.hidden = false;
    } else {
      nums.textContent = run.state === "failed" ? `failed: ${run.message}` : `${run.state}${run.total ? ` ${run.step}/${run.total}` : ""}`;
    }
  }
  if (["done", "failed", "cancelled"].includes(job.state)) {
    $("start").disabled = false; $("cancel").disabled = true;
    if (job.state === "failed") $("message").textContent = job.message;
    $("report").href = `/api/jobs/${job.id}/report.html`;
    $("report-line").hidden = false;
    document.body.dataset.jobState = job.state;
  }
}

const STYLE_HELP = "style distance (VGG-19 feature statistics against the style image; lower is closer to the painting)";
const CONTENT_HELP = "content distance (VGG-19 features against the photo; lower is closer to the photo)";
const SSIM_HELP = "SSIM of the luminance against the photo (1: its structure fully kept)";

function raw(m) {
  const parts = [];
  if (m.style_distance !== undefined) parts.push(`style distance ${m.style_distance.toFixed(3)}`);
  parts.push(`content distance ${m.content_distance.toFixed(3)}`, `SSIM ${m.ssim.toFixed(3)}`);
  return parts.join(" · ");
}

const ordinal = (i) => (i === 0 ? "" : `${["", "2nd", "3rd"][i] || `${i + 1}th`} `);  // 0 → "closest"

// Each finished result's numbers in words: where it ranks among the results for closeness to the painting
// (style distance) and to the photo (content distance), and how much of the photo's structure it keeps (SSIM);
// the measures themselves go into the tooltips.
function verdicts(runs) {
  const done = runs.filter((r) => r.state === "done");
  const rank = (key, target) => {
    const ranked = done.filter((r) => r.metrics[key] !== undefined).sort((a, b) => a.metrics[key] - b.metrics[key]);
    const out = new Map();
    ranked.forEach((r, i) => {
      if (ranked.length < 2) { out.set(r.engine, null); return; }
      const text = i === ranked.length - 1 ? `furthest from the ${target}` : `${ordinal(i)}closest to the ${target}`;
      out.set(r.engine, `${text} (of ${ranked.length})`);
    });
    return out;
  };
  const style = rank("style_distance", "painting"), content = rank("content_distance", "photo");
  const words = new Map();
  for (const r of done) {
    const m = r.metrics, lines = [];
    if (style.get(r.engine)) lines.push([style.get(r.engine), `${STYLE_HELP}: ${m.style_distance.toFixed(3)}`]);
    if (content.get(r.engine)) lines.push([content.get(r.engine), `${CONTENT_HELP}: ${m.content_distance.toFixed(3)}`]);
    if (done.length < 2) lines.push(["the only result: run several engines to rank them", raw(m)]);
    // Rough bands of SSIM, for reading at a glance; the number is in the tooltip.
    const kept = m.ssim >= 0.6 ? "most" : m.ssim >= 0.3 ? "some" : "little";
    lines.push([`keeps ${kept} of the photo's structure`, `${SSIM_HELP}: ${m.ssim.toFixed(3)}`]);
    words.set(r.engine, lines);
  }
  return words;
}

function zoom(img, name) {
  if (!img.src) return;
  const box = $("lightbox");
  box.querySelector("img").src = img.src;
  box.querySelector(".caption").textContent = `${name} — click or press Escape to close`;
  box.hidden = false;
}

function closeZoom() { $("lightbox").hidden = true; }

function follow(id) {
  if (events) events.close();
  document.body.dataset.jobState = "running";
  events = new EventSource(`/api/jobs/${id}/events`);
  events.onmessage = (m) => {
    const job = JSON.parse(m.data);
    show(job);
    if (["done", "failed", "cancelled"].includes(job.state)) events.close();
  };
}

async function cancel() {
  if (current) await fetch(`/api/jobs/${current}/cancel`, { method: "POST" });
}

init();
