"""The web page at ``/``: the jobs with their progress, a form to submit one, report links.

One self-contained HTML page (no external resources). It polls ``GET /jobs`` every second and
redraws the table, so progress shows without reloading; the form posts to ``POST /jobs`` with
``fetch`` (without a config when its box is empty: the zero-configuration sweep) and shows the
service's error message when a submission is refused. Everything from
the server is inserted as text, never as HTML.
"""

from __future__ import annotations

import html

__all__ = ["EXAMPLE_CONFIG", "render_page"]

EXAMPLE_CONFIG = """\
# A sweep config, as for `nestmix sweep` (TOML or JSON); the data file is the upload.
name = "galaxies"

[data]
scale = 0.001                      # km/s -> 1000 km/s

[model.priors]
mean = { dist = "norm", loc = 20, scale = 10 }
variance = { dist = "invgamma", a = 3, scale = 20 }

[sweep]
k = [1, 2, 3]
nlive = 100
seed = 1
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.5em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.35em 0.6em; border-bottom: 1px solid #ddd;
         vertical-align: top; }
progress { width: 9em; }
td code { white-space: nowrap; }
textarea, input { box-sizing: border-box; }
.state { font-weight: 600; }
.state-done { color: #176317; } .state-failed { color: #a11; }
.state-cancelled { color: #666; } .state-running { color: #0b4f8a; }
.run { display: inline-block; margin: 0 0.4em 0.2em 0; padding: 0 0.3em; border-radius: 3px;
       background: #eee; font-size: 0.9em; white-space: nowrap; }
.run-done { background: #dff0d8; } .run-screened { color: #777; }
.error { color: #a11; white-space: pre-wrap; }
.warning { color: #8a5a00; }
.cost { color: #555; font-size: .9em; }
.live { color: #0b4f8a; font-size: .9em; font-variant-numeric: tabular-nums; }
form { display: grid; grid-template-columns: 10em 1fr; gap: 0.5em 1em; align-items: start; }
textarea { font-family: ui-monospace, monospace; width: 100%; height: 17em; }
#message { min-height: 1.4em; }
"""

_SCRIPT = r"""
"use strict";
const $ = (id) => document.getElementById(id);
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}
function fmt(x, digits) { return (x === null || x === undefined) ? "–" : x.toFixed(digits); }
function runChip(run) {
  let text = `K=${run.k} ${run.sampler}`;
  if (run.row) text += `: ln Z = ${fmt(run.row.logZ, 2)} ± ${fmt(run.row.logZ_err, 2)}`;
  if (run.state === "screened") text += ": not run (screened)";
  return el("span", {class: `run run-${run.state}`}, text);
}
function jobRow(job) {
  const links = el("td", {class: "links"});
  if (job.links.report) links.append(el("a", {href: job.links.report, class: "report"},
                                         "report"), " ");
  if (job.progress.done > 0) links.append(el("a", {href: job.links.summary}, "summary.json"),
                                          " ");
  links.append(el("a", {href: job.links.log}, "log"));
  if (job.state === "queued" || job.state === "running") {
    const button = el("button", {type: "button", class: "cancel"}, "cancel");
    button.addEventListener("click", () => cancel(job.id));
    links.append(" ", button);
  }
  const state = el("td", {class: `state state-${job.state}`}, job.state);
  if (job.attempts > 1) state.append(el("div", {}, `attempt ${job.attempts}`));
  const progress = el("td", {},
    el("progress", {max: String(job.progress.total), value: String(job.progress.done)}),
    ` ${job.progress.done}/${job.progress.total}`);
  const runs = el("td", {}, ...job.runs.map(runChip));
  if (job.cost) runs.prepend(el("div", {class: "cost"}, `cost estimate: ${job.cost.line}`));
  for (const live of job.live || []) runs.append(el("div", {class: "live"}, live.text));
  if (job.error) runs.append(el("div", {class: "error"}, job.error));
  if (job.warning) runs.append(el("div", {class: "warning"}, job.warning));
  return el("tr", {"data-job": job.id, "data-state": job.state},
            el("td", {}, el("code", {}, job.name)), state, progress, runs, links);
}
async function refresh() {
  try {
    const response = await fetch("jobs", {headers: {Accept: "application/json"}});
    const body = await response.json();
    if (!response.ok) { $("status").textContent = body.detail; return; }
    $("jobs").replaceChildren(...body.jobs.map(jobRow));
    $("empty").hidden = body.jobs.length > 0;
    $("status").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    $("status").textContent = `cannot reach the service (${error})`;
  }
}
async function cancel(id) {
  const response = await fetch(`jobs/${id}`, {method: "DELETE"});
  const body = await response.json();
  $("message").textContent = response.ok ? `job ${body.name} cancelled` : body.detail;
  refresh();
}
$("submit-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = $("data").files[0];
  if (!data) { $("message").textContent = "choose a data file"; return; }
  const form = new FormData();
  const config = $("config").value;  // empty: the zero-configuration sweep of the data
  if (config.trim()) form.append("config", new Blob([config], {type: "text/plain"}),
                                 "config.toml");
  form.append("data", data, data.name);
  if ($("name").value) form.append("name", $("name").value);
  form.append("figures", $("figures").checked ? "true" : "false");
  if ($("max_minutes").value) form.append("max_minutes", $("max_minutes").value);
  $("message").textContent = "submitting…";
  try {
    const response = await fetch("jobs", {method: "POST", body: form});
    const body = await response.json();
    $("message").textContent = response.ok ? `submitted ${body.name} (job ${body.id})`
                                            : body.detail;
    $("message").className = response.ok ? "" : "error";
  } catch (error) {
    $("message").textContent = `submission failed (${error})`;
    $("message").className = "error";
  }
  refresh();
});
refresh();
setInterval(refresh, 1000);
"""


def render_page(version: str) -> str:
    """The page's HTML."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>nestmix service</title><style>{_STYLE}</style></head>
<body><main>
<h1>nestmix: how many components do my data need?</h1>
<h2>Jobs</h2>
<table><thead><tr><th>name</th><th>state</th><th>progress</th><th>runs</th><th></th></tr>
</thead><tbody id="jobs"></tbody></table>
<p id="empty">No jobs yet.</p>
<p><small id="status"></small></p>
<h2>Submit a sweep</h2>
<form id="submit-form">
<label for="name">name</label><input id="name" name="name" placeholder="from the config">
<label for="config">config<br><small>empty: the default sweep of the data, as
<code>nestmix sweep points.csv</code></small></label><textarea id="config" name="config"
 spellcheck="false">{html.escape(EXAMPLE_CONFIG)}</textarea>
<label for="data">data file</label><input id="data" name="data" type="file"
 accept=".csv,.txt,.dat,.npy">
<label for="figures">figures</label><span><input id="figures" name="figures"
 type="checkbox" checked> draw the report's figures</span>
<label for="max_minutes">max minutes<br><small>refuse a job estimated above</small></label>
<input id="max_minutes" name="max_minutes" type="number" min="0" step="any"
 placeholder="30 (0: no limit)">
<span></span><span><button type="submit" id="submit">submit</button></span>
</form>
<p id="message" role="status"></p>
<p><small>nestmix {html.escape(version)} · <a href="docs">API</a> ·
<a href="openapi.json">openapi.json</a></small></p>
</main><script>{_SCRIPT}</script></body></html>
"""
