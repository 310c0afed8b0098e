/**
 * The console's own stylesheet and script, served as files (`/console/assets/…`): the pages
 * carry no inline script or style, so the Content-Security-Policy can forbid both. htmx and
 * uPlot come from their installed packages (routes.tsx), never from the internet.
 */
export const CONSOLE_CSS = `
:root { color-scheme: light; --fg: #1b1f24; --muted: #4a5563; --line: #d0d7de; --accent: #0a5bd3; --bad: #a4161a; --good: #136c2e; --bg: #fff; --panel: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.2rem; align-items: center; padding: .6rem 1.2rem; border-bottom: 1px solid var(--line); background: var(--panel); flex-wrap: wrap; }
header .brand { font-weight: 700; color: var(--fg); text-decoration: none; }
header nav { display: flex; gap: 1rem; flex: 1; }
header nav a { color: var(--accent); }
header form { margin: 0; }
main { padding: 1rem 1.2rem 3rem; max-width: 72rem; }
h1 { font-size: 1.5rem; margin: .4rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 .6rem; }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
dl.record { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.record dt { color: var(--muted); }
dl.record dd { margin: 0; }
pre { background: var(--panel); border: 1px solid var(--line); padding: .6rem; overflow: auto; max-height: 24rem; white-space: pre-wrap; word-break: break-all; }
form.stacked { display: grid; gap: .6rem; max-width: 40rem; }
form.stacked label { display: grid; gap: .2rem; font-weight: 600; }
form.inline { display: flex; gap: .6rem; align-items: end; flex-wrap: wrap; }
form.inline label { display: grid; gap: .2rem; }
input, textarea, select { font: inherit; padding: .35rem .45rem; border: 1px solid #8c959f; border-radius: 4px; }
textarea { min-height: 5rem; }
button { font: inherit; padding: .4rem .9rem; border-radius: 4px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); }
.hint { color: var(--muted); font-weight: 400; font-size: .9rem; }
.error { color: var(--bad); border: 1px solid var(--bad); padding: .5rem .7rem; border-radius: 4px; }
.status-succeeded { color: var(--good); font-weight: 600; }
.status-failed, .status-timedOut { color: var(--bad); font-weight: 600; }
.status-queued, .status-running { color: var(--muted); font-weight: 600; }
.chart { min-height: 260px; margin-bottom: 1rem; }
.pager { display: flex; gap: 1rem; }
`;

/**
 * Draws each `[data-chart]` element's series from the JSON at its `data-src` with uPlot
 * (`data-series`: the keys of each point to plot, `data-labels` their names). Everything else the pages do is plain
 * HTML forms and htmx attributes.
 */
export const CONSOLE_JS = `
'use strict';
document.addEventListener('DOMContentLoaded', () => {
  for (const element of document.querySelectorAll('[data-chart]')) {
    fetch(element.dataset.src, { headers: { accept: 'application/json' }, credentials: 'same-origin' })
      .then((answer) => (answer.ok ? answer.json() : Promise.reject(new Error('HTTP ' + answer.status))))
      .then((history) => draw(element, history))
      .catch((error) => { element.textContent = 'The chart could not be loaded: ' + error.message; });
  }
});

function draw(element, history) {
  const keys = element.dataset.series.split(',');
  const points = history.points;
  if (points.length === 0) { element.textContent = 'No samples yet: the api samples its figures every ' + history.intervalSeconds + ' s.'; return; }
  const at = points.map((point) => Date.parse(point.at) / 1000);
  const value = (point, key) => key.split('.').reduce((inner, part) => (inner == null ? null : inner[part]), point);
  const series = keys.map((key) => points.map((point) => value(point, key) ?? null));
  const colors = ['#0a5bd3', '#a4161a', '#136c2e', '#8a4baf', '#b35900', '#4a5563'];
  const labels = (element.dataset.labels || element.dataset.series).split(',');
  const now = Date.now() / 1000;
  const options = {
    title: element.dataset.title, width: Math.min(element.clientWidth || 900, 1100), height: 240,
    // Always the whole hour: a few points of a young api would otherwise stretch across the axis.
    scales: { x: { time: true, range: () => [now - 3600, now] } },
    series: [{}].concat(keys.map((key, index) => ({ label: labels[index] || key, stroke: colors[index % colors.length], width: 2, points: { show: true, size: 4 } }))),
  };
  new uPlot(options, [at].concat(series), element);
}
`;
