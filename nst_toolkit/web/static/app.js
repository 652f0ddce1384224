// The nst page: build the form from /api/options, submit a job, follow its progress, show results.
"use strict";
const $ = (id) => document.getElementById(id);
let current = null;   // the running job's id
let events = null;    // its EventSource

async function init() {
  const opts = await (await fetch("/api/options")).json();
  for (const s of opts.samples) {
    for (const sel of [$("content-sample"), $("style-sample")]) sel.add(new Option(s.replace("_", " "), s));
  }
  for (const c of opts.preserve_color) $("preserve_color").add(new Option(c, c));
  const box = $("engines");
  for (const e of opts.engines) {
    const label = document.createElement("label");
    label.title = e.summary;
    const cb = document.createElement("input");
    cb.type = "checkbox"; cb.name = "engine"; cb.value = e.name; cb.id = `engine-${e.name}`;
    cb.checked = e.kind === "one-pass";
    label.append(cb, ` ${e.name}`);
    if (e.models) {
      const sel = document.createElement("select");
      sel.id = `model-${e.name}`; sel.name = `model_${e.name}`;
      for (const m of e.models) sel.add(new Option(m, m, m === e.default_model, m === e.default_model));
      label.append(" ", sel);
    }
    box.append(label);
  }
  $("job-form").addEventListener("submit", start);
  $("cancel").addEventListener("click", cancel);
}

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
  for (const k of ["size", "style_weight", "iterations", "alpha", "preserve_color"]) form.append(k, $(k).value);
  for (const e of engines) { const m = $(`model-${e}`); if (m) form.append(`model_${e}`, m.value); }
  const res = await fetch("/api/jobs", { method: "POST", body: form });
  const body = await res.json().catch(() => ({ error: `the server answered ${res.status}` }));
  if (!res.ok) { $("message").textContent = body.error; return; }
  current = body.id;
  $("results").replaceChildren();
  $("report-line").hidden = true;
  $("cancel").disabled = false;
  $("start").disabled = true;
  follow(current);
}

function card(run) {
  let el = document.getElementById(`card-${run.engine}`);
  if (!el) {
    el = document.createElement("div");
    el.className = "card"; el.id = `card-${run.engine}`;
    el.innerHTML = `<h3></h3><progress max="1" value="0"></progress><img alt=""><p class="numbers"></p><a class="download" hidden>Download</a>`;
    el.querySelector("h3").textContent = run.engine;
    $("results").append(el);
  }
  return el;
}

function show(job) {
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
      nums.textContent = `${run.seconds.toFixed(1)} s · style ${m.style_distance.toFixed(3)} · content ${m.content_distance.toFixed(3)} · SSIM ${m.ssim.toFixed(3)}`;
      nums.dataset.seconds = run.seconds; nums.dataset.style = m.style_distance; nums.dataset.content = m.content_distance;
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
