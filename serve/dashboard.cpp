#include "serve/dashboard.h"

namespace spanpipe::serve {
namespace {
const char kPage[] = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>spanpipe</title><link rel="icon" href="data:,">
<style>
:root{--bg:#0f1419;--panel:#161c23;--fg:#d7dde4;--mute:#8a96a3;--acc:#4fa3ff;--err:#ff6b6b;--ok:#50d890}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;flex-wrap:wrap;gap:8px;align-items:center;padding:10px 16px;background:var(--panel);border-bottom:1px solid #222b35}
header h1{font-size:16px;margin:0 12px 0 0}select,button,input{background:#0f1419;color:var(--fg);border:1px solid #2a3441;border-radius:4px;padding:4px 8px}
button.on{border-color:var(--acc);color:var(--acc)}main{padding:12px;display:grid;gap:12px;grid-template-columns:repeat(auto-fit,minmax(300px,1fr))}
.card{background:var(--panel);border-radius:6px;padding:10px;min-width:0}.card h2{font-size:13px;margin:0 0 6px;color:var(--mute);font-weight:600}
canvas{width:100%;height:160px}.kpis{display:flex;flex-wrap:wrap;gap:16px}.kpi b{display:block;font-size:20px}
table{width:100%;border-collapse:collapse;font-size:12px}td,th{padding:4px;border-bottom:1px solid #222b35;text-align:left;white-space:nowrap}
td:first-child{white-space:normal;overflow-wrap:anywhere;min-width:7em}.scroll{overflow-x:auto}
tr.click{cursor:pointer}tr.click:hover,tr.sel{background:#1c2530}.wide{grid-column:1/-1}#err{color:var(--err)}pre{white-space:pre-wrap;max-height:300px;overflow:auto;background:#0f1419;padding:6px}
.legend span{margin-right:10px;font-size:11px}
</style></head><body>
<header><h1>spanpipe</h1>
<span>granularity</span><button data-g="1min">1m</button><button data-g="1hour" class="on">1h</button><button data-g="1day">1d</button>
<span>by</span><select id="dim"><option value="model">model</option><option value="provider">provider</option></select>
<input id="proj" placeholder="project" size="8" value=""><span id="err"></span></header>
<main>
<div class="card wide"><div class="kpis" id="kpis"></div></div>
<div class="card"><h2>Requests</h2><canvas id="c_requests"></canvas><div class="legend" id="l_requests"></div></div>
<div class="card"><h2>Errors</h2><canvas id="c_errors"></canvas></div>
<div class="card"><h2>Tokens</h2><canvas id="c_tokens"></canvas></div>
<div class="card"><h2>Cost (USD)</h2><canvas id="c_cost"></canvas></div>
<div class="card"><h2>Latency p50 / p95 (ms)</h2><canvas id="c_latency"></canvas><div class="legend"><span style="color:#4fa3ff">■ p50</span><span style="color:#ffb454">■ p95</span></div></div>
<div class="card"><h2>Top models by cost</h2><div class="scroll"><table id="top"></table></div></div>
<div class="card wide"><h2>Threads</h2><div class="scroll"><table id="threads"></table></div></div>
<div class="card wide" id="drill" hidden><h2 id="drill_title"></h2><div class="scroll"><table id="spans"></table></div><pre id="content"></pre></div>
</main>
<script>
const OPEN = __OPEN__;
let gran = '1hour', timer = null;
const compact = new Intl.NumberFormat('en', {notation: 'compact', maximumSignificantDigits: 3});
const colors = ['#4fa3ff','#50d890','#ffb454','#ff6b6b','#c792ea','#7fdbca','#f78c6c','#82aaff'];
function key(){ if (OPEN) return null; let k = localStorage.getItem('spanpipe_key') || (location.hash.match(/key=([^&]+)/)||[])[1];
  if (!k) { k = prompt('API key'); } if (k) localStorage.setItem('spanpipe_key', k); return k; }
async function api(path){ const h = {}; const proj = document.getElementById('proj').value.trim();
  if (proj) h['x-project-id'] = proj;
  const k = key(); if (k) h['Authorization'] = 'Bearer ' + k;
  const r = await fetch(path, {headers: h}); const j = await r.json();
  if (!r.ok) throw new Error(j.error || r.status); return j; }
function range(g){ const now = Date.now(); const span = {'1min': 3*3600e3, '1hour': 48*3600e3, '1day': 60*86400e3}[g];
  return `start_time=${Math.floor((now-span)/1000)}&end_time=${Math.floor(now/1000)+60}`; }
function draw(id, series){ const c = document.getElementById(id); const dpr = window.devicePixelRatio||1;
  const w = c.clientWidth, h = c.clientHeight; c.width = w*dpr; c.height = h*dpr; const g = c.getContext('2d'); g.scale(dpr,dpr);
  g.clearRect(0,0,w,h); let xs = [], max = 0;
  for (const s of series) for (const p of s.points){ xs.push(p[0]); max = Math.max(max, p[1]); }
  c.dataset.points = xs.length;
  if (!xs.length){ g.fillStyle='#8a96a3'; g.fillText('no data yet', 10, 20); return; }
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || x0+1; max = max || 1;
  g.strokeStyle='#222b35'; g.fillStyle='#8a96a3'; g.font='10px sans-serif';
  for (let i=0;i<=4;i++){ const y = h-18-(h-28)*i/4; g.beginPath(); g.moveTo(40,y); g.lineTo(w,y); g.stroke();
    g.fillText(compact.format(max*i/4), 2, y+3); }
  // Lines between points, and a dot on each point while they are sparse (one bucket is no line).
  series.forEach((s, i) => { const col = s.color || colors[i%colors.length]; g.strokeStyle = col; g.fillStyle = col; g.lineWidth = 1.5;
    const xy = s.points.map(p => [40+(w-45)*(x1===x0?0.5:(p[0]-x0)/(x1-x0)), h-18-(h-28)*p[1]/max]);
    g.beginPath(); xy.forEach(([x,y], j) => j ? g.lineTo(x,y) : g.moveTo(x,y)); g.stroke();
    if (xy.length*6 < w) xy.forEach(([x,y]) => { g.beginPath(); g.arc(x, y, 2.5, 0, 2*Math.PI); g.fill(); }); });
  const when = t => new Date(t).toISOString().slice(5,16).replace('T',' '); g.fillStyle='#8a96a3';
  if (x1===x0) { g.fillText(when(x0), (w-35)/2, h-4); return; }
  g.fillText(when(x0), 40, h-4); g.fillText(when(x1), w-80, h-4); }
function bySeries(data, field, dim){ const m = new Map();
  for (const p of data){ const k = p.group ? p.group[dim] || '(none)' : 'all';
    if (!m.has(k)) m.set(k, []); m.get(k).push([p.timestamp_ms, p[field]]); }
  return [...m.entries()].slice(0,8).map(([k, pts], i) => ({name:k, points:pts, color: colors[i%colors.length]})); }
function esc(s){ return String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c])); }
// A refresh started later (granularity switch, auto-refresh) supersedes one still waiting for its
// answers: the older one stops before drawing stale data. body[data-refreshed] = granularity/dimension
// last drawn completely.
let seq = 0;
async function refresh(){ const dim = document.getElementById('dim').value; const err = document.getElementById('err');
  const g0 = gran, my = ++seq, live = () => my === seq, r = range(g0);
  try {
    const m = await api(`/api/v1/metrics?metrics=request_count,error_count,total_tokens,total_cost&interval=${g0}&group_by=${dim}&${r}`);
    if (!live()) return;
    for (const [id, f] of [['c_requests','request_count'],['c_errors','error_count'],['c_tokens','total_tokens'],['c_cost','total_cost']]){
      const s = bySeries(m.data, f, dim); draw(id, s);
      if (id==='c_requests') document.getElementById('l_requests').innerHTML = s.map(x=>`<span style="color:${x.color}">■ ${esc(x.name)}</span>`).join(''); }
    const [p50, p95] = await Promise.all(['p50','p95'].map(a => api(`/api/v1/metrics?metrics=duration&aggregation=${a}&interval=${g0}&${r}`)));
    if (!live()) return;
    draw('c_latency', [{name:'p50', points:p50.data.map(p=>[p.timestamp_ms,p.duration])},{name:'p95', points:p95.data.map(p=>[p.timestamp_ms,p.duration]), color:'#ffb454'}]);
    const sum = await api(`/api/v1/metrics/summary?${r}&compare_previous_period=true`); const c = sum.current;
    if (!live()) return;
    document.getElementById('kpis').innerHTML = [['requests',c.requests],['errors',c.errors],['error rate',(100*c.error_rate).toFixed(1)+'%'],
      ['tokens',c.total_tokens],['cost $',c.cost_usd.toFixed(4)],['p95 ms',c.p95_duration_ms.toFixed(0)],['threads',c.unique_threads],['users',c.unique_users]]
      .map(([k,v])=>`<div class="kpi"><b>${esc(v)}</b>${k}</div>`).join('');
    document.getElementById('top').innerHTML = '<tr><th>model</th><th>cost $</th></tr>' + sum.top.by_cost.map(t=>`<tr><td>${esc(t.model)}</td><td>${t.value.toFixed(4)}</td></tr>`).join('');
    const th = await api(`/group?group_by=thread&limit=25&${r}`);
    if (!live()) return;
    document.getElementById('threads').innerHTML = '<tr><th>thread</th><th>traces</th><th>LLM calls</th><th>tokens in/out</th><th>cost $</th><th>errors</th><th>last seen</th></tr>' +
      th.data.map(t=>`<tr class="click" data-t="${esc(t.group_key.thread_id)}"><td>${esc(t.group_key.thread_id)}</td><td>${t.trace_count}</td><td>${t.llm_calls}</td><td>${t.input_tokens}/${t.output_tokens}</td><td>${t.cost.toFixed(4)}</td><td>${t.errors}</td><td>${esc(t.last_seen)}</td></tr>`).join('');
    document.querySelectorAll('#threads tr.click').forEach(r => r.onclick = () => drill(r.dataset.t));
    err.textContent = ''; document.body.dataset.refreshed = `${g0}/${dim}`;
  } catch (e) { if (live()) err.textContent = e.message; } }
async function drill(thread){ const d = document.getElementById('drill'); d.hidden = false;
  document.getElementById('drill_title').textContent = 'Thread ' + thread; const content = document.getElementById('content'); content.textContent = '';
  const spans = document.getElementById('spans'); spans.innerHTML = '';
  try {
    const s = await api(`/group/thread/${encodeURIComponent(thread)}?limit=50`);
    spans.innerHTML = '<tr><th>start</th><th>span</th><th>model</th><th>tokens</th><th>cost $</th><th>ms</th><th>error</th></tr>' +
      s.data.map(x=>`<tr class="click" data-trace="${esc(x.trace_id)}"><td title="${new Date(Number(x.start_unix_nano)/1e6).toISOString()}">${new Date(Number(x.start_unix_nano)/1e6).toISOString().slice(11,23)}</td><td>${esc(x.name)}</td><td>${esc(x.model)}</td><td>${x.input_tokens}/${x.output_tokens}</td><td>${x.cost_usd.toFixed(5)}</td><td>${x.duration_ms.toFixed(0)}</td><td>${x.error?'yes':''}</td></tr>`).join('');
  } catch (e) { content.textContent = e.message; }
  document.querySelectorAll('#spans tr.click').forEach(r => r.onclick = async () => {
    document.querySelectorAll('#spans tr.sel').forEach(x => x.classList.remove('sel')); r.classList.add('sel');
    try { const c = await api(`/api/v1/traces/${r.dataset.trace}/content`);
      content.textContent = `trace ${r.dataset.trace}\n\n` + (c.map(v=>`== ${v.span_id} ${v.key}\n${v.value}`).join('\n\n') || '(no content)');
    } catch (e) { content.textContent = e.message; } }); d.scrollIntoView(); }
document.querySelectorAll('button[data-g]').forEach(b => b.onclick = () => { gran = b.dataset.g;
  document.querySelectorAll('button[data-g]').forEach(x => x.classList.toggle('on', x===b)); refresh(); });
document.getElementById('dim').onchange = refresh; document.getElementById('proj').onchange = refresh;
refresh(); timer = setInterval(refresh, 10000);
</script></body></html>)HTML";
}  // namespace

std::string DashboardHtml(bool open) {
  std::string page = kPage;
  size_t p = page.find("__OPEN__");
  page.replace(p, 8, open ? "true" : "false");
  return page;
}

}  // namespace spanpipe::serve
