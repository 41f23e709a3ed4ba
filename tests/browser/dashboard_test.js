// The ops dashboard (GET /) in headless Chromium against a running `spanpipe demo`:
// the page loads, every chart draws data, the 1m/1h/1d switch re-queries and redraws, the threads
// table drills down to a thread's spans and a trace's content, nothing is logged as an error, and
// the page fits 1280x800 and a 390x844 phone without horizontal overflow. Screenshots go to the
// artifacts folder. Run by tests/scripts/dashboard_browser_test.sh.
//
//   node dashboard_test.js <dashboard-url> <artifacts-dir>
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [url, artifacts] = process.argv.slice(2);
if (!url || !artifacts) {
  console.error('usage: node dashboard_test.js <dashboard-url> <artifacts-dir>');
  process.exit(2);
}
fs.mkdirSync(artifacts, { recursive: true });

const CHARTS = ['c_requests', 'c_errors', 'c_tokens', 'c_cost', 'c_latency'];
const failures = [];
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
}

// Pixels of a chart's canvas drawn in a saturated colour: the series lines and points (the grid
// and the axis labels are grey, the background transparent).
async function seriesPixels(page, id) {
  return page.evaluate((id) => {
    const c = document.getElementById(id);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) {
      const hi = Math.max(d[i], d[i + 1], d[i + 2]), lo = Math.min(d[i], d[i + 1], d[i + 2]);
      if (d[i + 3] > 128 && hi - lo > 80) ++n;
    }
    return n;
  }, id);
}

// Waits until the dashboard finished a refresh for this granularity and dimension.
async function refreshed(page, interval, dim = 'model') {
  await page.waitForFunction(
    (want) => document.body.dataset.refreshed === want, `${interval}/${dim}`, { timeout: 30000 });
}

async function chartsDrawn(page, label) {
  for (const id of CHARTS) {
    const points = Number(await page.getAttribute(`#${id}`, 'data-points'));
    const pixels = await seriesPixels(page, id);
    check(points > 0 && pixels > 20, `${label}: chart ${id} draws data (${points} points, ${pixels} series pixels)`);
  }
}

// The numbers of a table's body cells in one column (header row excluded).
async function columnNumbers(page, table, col) {
  return page.$$eval(`#${table} tr.click`, (rows, col) =>
    rows.map((r) => parseFloat(r.cells[col].textContent)), col);
}

async function desktop(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = watch(page);
  const metricQueries = [];
  page.on('request', (r) => { if (r.url().includes('/api/v1/metrics?')) metricQueries.push(r.url()); });

  const resp = await page.goto(url, { waitUntil: 'load' });
  check(resp && resp.status() === 200, `GET / answers 200 (${resp && resp.status()})`);
  check((await page.title()) === 'spanpipe', 'the page title is spanpipe');
  await refreshed(page, '1hour');
  await chartsDrawn(page, '1h');

  const kpi = await page.$$eval('#kpis .kpi', (ks) => ks.map((k) => [k.lastChild.textContent, k.querySelector('b').textContent]));
  const requests = Number((kpi.find(([k]) => k === 'requests') || [])[1]);
  check(requests > 0, `KPI requests > 0 (${requests})`);
  const topCosts = await page.$$eval('#top tr', (rows) => rows.slice(1).map((r) => parseFloat(r.cells[1].textContent)));
  check(topCosts.length > 0 && topCosts.every((c) => c > 0), `top models by cost: ${topCosts.length} rows, all > 0`);
  const calls = await columnNumbers(page, 'threads', 2);
  check(calls.length > 0 && calls.every((n) => n > 0), `threads table: ${calls.length} rows, LLM calls > 0`);
  const legend = await page.$$eval('#l_requests span', (s) => s.length);
  check(legend > 0, `requests chart has a legend (${legend} series)`);
  await page.screenshot({ path: path.join(artifacts, 'dashboard-desktop.png'), fullPage: true });

  // Granularity switch: each button re-queries with its interval and redraws.
  for (const [button, interval] of [['1m', '1min'], ['1d', '1day'], ['1h', '1hour']]) {
    const before = metricQueries.length;
    await page.click(`button[data-g="${interval}"]`);
    await refreshed(page, interval);
    const asked = metricQueries.slice(before);
    check(asked.length > 0 && asked.every((q) => q.includes(`interval=${interval}`)),
      `${button}: ${asked.length} metrics queries, all with interval=${interval}`);
    check(await page.$eval(`button[data-g="${interval}"]`, (b) => b.classList.contains('on')), `${button}: its button is on`);
    await chartsDrawn(page, button);
    if (interval === '1min') await page.screenshot({ path: path.join(artifacts, 'dashboard-desktop-1m.png'), fullPage: true });
  }

  // By provider: the series and the legend are the providers.
  const models = await page.$$eval('#l_requests span', (s) => s.map((x) => x.textContent.slice(2)));
  await page.selectOption('#dim', 'provider');
  await refreshed(page, '1hour', 'provider');
  const providers = await page.$$eval('#l_requests span', (s) => s.map((x) => x.textContent.slice(2)));
  check(providers.length > 0 && providers.length < models.length && providers.every((p) => !models.includes(p)),
    `by provider: legend ${JSON.stringify(providers)} (by model: ${models.length} series)`);
  await chartsDrawn(page, 'by provider');
  await page.selectOption('#dim', 'model');
  await refreshed(page, '1hour', 'model');

  // Drill-down: a thread's spans, then a span's trace content.
  const thread = await page.getAttribute('#threads tr.click', 'data-t');
  await page.click('#threads tr.click');
  await page.waitForSelector('#drill:not([hidden]) #spans tr.click', { timeout: 15000 });
  check((await page.textContent('#drill_title')) === `Thread ${thread}`, `drill-down title names thread ${thread}`);
  const spanTokens = await page.$$eval('#spans tr.click', (rows) => rows.map((r) => r.cells[3].textContent));
  check(spanTokens.length > 0, `thread ${thread}: ${spanTokens.length} spans listed`);
  const trace = await page.getAttribute('#spans tr.click', 'data-trace');
  check(/^[0-9a-f]{32}$/.test(trace || ''), `span rows carry their trace id (${trace})`);
  await page.click('#spans tr.click');
  await page.waitForFunction(() => document.getElementById('content').textContent.length > 0, null, { timeout: 15000 });
  const content = await page.textContent('#content');
  check(content.startsWith(`trace ${trace}\n`) && content.includes('\n== '), `trace ${trace} content shown (${content.length} characters): ${JSON.stringify(content.slice(0, 60))}`);
  await page.screenshot({ path: path.join(artifacts, 'dashboard-drilldown.png'), fullPage: true });

  check((await page.textContent('#err')) === '', 'no error shown in the header');
  report('desktop', errors);
  await context.close();
}

async function phone(browser) {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  const page = await context.newPage();
  const errors = watch(page);
  await page.goto(url, { waitUntil: 'load' });
  await refreshed(page, '1hour');
  await chartsDrawn(page, 'phone');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 390, `phone: no horizontal overflow (scrollWidth ${width} <= 390)`);
  const narrowest = await page.$$eval('canvas', (cs) => Math.min(...cs.map((c) => c.clientWidth)));
  check(narrowest >= 250, `phone: charts use the width (narrowest ${narrowest} px)`);
  await page.click('#threads tr.click');
  await page.waitForSelector('#drill:not([hidden]) #spans tr.click', { timeout: 15000 });
  const widthDrilled = await page.evaluate(() => document.documentElement.scrollWidth);
  check(widthDrilled <= 390, `phone: no horizontal overflow with the drill-down open (${widthDrilled})`);
  // Narrow tables scroll inside their card rather than breaking words: every header on one line.
  const broken = await page.$$eval('#threads th, #spans th', (ths) => ths.filter((th) => {
    const r = document.createRange();
    r.selectNodeContents(th);
    return r.getClientRects().length > 1;
  }).map((th) => th.textContent));
  check(broken.length === 0, `phone: table headers on one line (broken: ${JSON.stringify(broken)})`);
  await page.screenshot({ path: path.join(artifacts, 'dashboard-phone-drilldown.png') });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(artifacts, 'dashboard-phone.png') });
  report('phone', errors);
  await context.close();
}

// Console errors, uncaught exceptions and failed requests of a page.
function watch(page) {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()} (${m.location().url})`); });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`); });
  page.on('dialog', (d) => { errors.push(`unexpected dialog: ${d.message()}`); d.dismiss(); });
  return errors;
}

function report(label, errors) {
  check(errors.length === 0, `${label}: no console errors, page errors or failed requests${errors.length ? ': ' + errors.join(' | ') : ''}`);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    await desktop(browser);
    await phone(browser);
  } catch (e) {
    check(false, `unexpected: ${e.stack || e}`);
  } finally {
    await browser.close();
  }
  console.log(`dashboard_test: ${failures.length ? failures.length + ' check(s) failed' : 'all checks passed'}; screenshots in ${artifacts}`);
  process.exit(failures.length ? 1 : 0);
})();
