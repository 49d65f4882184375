// SPDX-License-Identifier: Apache-2.0
//
// The status page's logic: polls /api/breakers and /health (shapes in index.html), renders one
// row per breaker and a small SVG chart of its history. Plain browser JavaScript, no library.
// Breaker names are always inserted as text (textContent), never as HTML.
'use strict';

(function () {
  const STATES = ['closed', 'open', 'half-open', 'forced-open'];
  const COLORS = { 'closed': '#2e9d4a', 'open': '#d93025', 'half-open': '#f2a600', 'forced-open': '#8e44ad' };
  const CHART_WIDTH = 240;
  const CHART_HEIGHT = 40;
  const BAND_HEIGHT = 8;
  const WINDOW_MS = 5 * 60 * 1000;  // the chart shows the last 5 minutes
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const params = new URLSearchParams(window.location.search);
  const interval = Math.max(100, Number(params.get('interval')) || 1000);

  const tbody = document.querySelector('#breakers tbody');
  const statusLine = document.getElementById('status');
  const healthLine = document.getElementById('health');
  const rows = new Map();  // name -> { row, cells, breaker, receivedAt }

  function count(value) {
    return Number.isFinite(value) && value >= 0 ? String(Math.floor(value)) : '?';
  }

  function formatDuration(ms) {
    if (!(ms > 0)) return '\u2013';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    const minutes = Math.floor(ms / 60000);
    return minutes + ' min ' + Math.round((ms % 60000) / 1000) + ' s';
  }

  function checkBreaker(b, index) {
    if (b === null || typeof b !== 'object') throw new Error('entry ' + index + ' is not an object');
    if (typeof b.name !== 'string') throw new Error('entry ' + index + ': "name" is not a string');
    if (!STATES.includes(b.state)) throw new Error(b.name + ': unknown state ' + JSON.stringify(b.state));
    if (b.history !== undefined && !Array.isArray(b.history)) throw new Error(b.name + ': "history" is not an array');
  }

  function makeRow(name) {
    const row = document.createElement('tr');
    row.dataset.breaker = name;
    const cells = {};
    for (const key of ['name', 'state', 'calls', 'failures', 'rejections', 'timeLeft', 'chart']) {
      const cell = document.createElement(key === 'name' ? 'th' : 'td');
      if (key === 'name') cell.scope = 'row';
      if (['calls', 'failures', 'rejections', 'timeLeft'].includes(key)) cell.className = 'num';
      if (key === 'state') cell.className = 'state';
      row.appendChild(cell);
      cells[key] = cell;
    }
    cells.name.textContent = name;
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('class', 'chart');
    svg.setAttribute('width', CHART_WIDTH);
    svg.setAttribute('height', CHART_HEIGHT);
    svg.setAttribute('viewBox', '0 0 ' + CHART_WIDTH + ' ' + CHART_HEIGHT);
    svg.setAttribute('role', 'img');
    cells.chart.appendChild(svg);
    cells.svg = svg;
    return { row, cells };
  }

  function svgElement(tag, attributes) {
    const element = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    return element;
  }

  // The state band along the bottom, the calls per sample as a line, failures as red bars.
  function drawChart(svg, breaker) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const history = (breaker.history || []).filter((s) => s && Number.isFinite(s.t));
    svg.setAttribute('aria-label', breaker.name + ': ' + history.length + ' samples');
    if (history.length === 0) return;
    // The last 5 minutes, or the whole history when it is shorter.
    const end = history[history.length - 1].t;
    const start = Math.max(end - WINDOW_MS, history[0].t);
    const span = Math.max(1, end - start);
    const x = (t) => ((Math.max(t, start) - start) / span) * CHART_WIDTH;
    const plotHeight = CHART_HEIGHT - BAND_HEIGHT - 2;

    for (let i = 0; i < history.length; i++) {
      const from = x(history[i].t);
      const to = i + 1 < history.length ? x(history[i + 1].t) : CHART_WIDTH;
      if (to <= from && i + 1 < history.length) continue;
      svg.appendChild(svgElement('rect', {
        x: from.toFixed(1), y: CHART_HEIGHT - BAND_HEIGHT, width: Math.max(1, to - from).toFixed(1),
        height: BAND_HEIGHT, fill: COLORS[history[i].state] || '#999',
      }));
    }

    const deltas = [];
    for (let i = 1; i < history.length; i++) {
      deltas.push({
        t: history[i].t,
        calls: Math.max(0, (history[i].calls || 0) - (history[i - 1].calls || 0)),
        failures: Math.max(0, (history[i].failures || 0) - (history[i - 1].failures || 0)),
      });
    }
    const peak = Math.max(1, ...deltas.map((d) => d.calls));
    const y = (v) => (plotHeight - (v / peak) * plotHeight + 1).toFixed(1);
    for (const d of deltas) {
      if (d.failures === 0 || d.t < start) continue;
      const top = y(d.failures);
      svg.appendChild(svgElement('rect', {
        x: (x(d.t) - 1).toFixed(1), y: top, width: 2, height: (plotHeight + 1 - top).toFixed(1),
        fill: '#d93025', opacity: 0.7,
      }));
    }
    const points = deltas.filter((d) => d.t >= start).map((d) => x(d.t).toFixed(1) + ',' + y(d.calls));
    if (points.length > 1) {
      svg.appendChild(svgElement('polyline', {
        points: points.join(' '), fill: 'none', stroke: '#0969da', 'stroke-width': 1.5,
      }));
    }
  }

  function render(breakers) {
    const receivedAt = Date.now();
    breakers.forEach(checkBreaker);
    const seen = new Set();
    for (const breaker of breakers) {
      seen.add(breaker.name);
      let entry = rows.get(breaker.name);
      if (!entry) {
        entry = makeRow(breaker.name);
        rows.set(breaker.name, entry);
      }
      tbody.appendChild(entry.row);  // keeps the order of the answer
      entry.breaker = breaker;
      entry.receivedAt = receivedAt;
      entry.row.dataset.state = breaker.state;
      entry.cells.state.textContent = breaker.state;
      entry.cells.state.className = 'state state-' + breaker.state;
      entry.cells.calls.textContent = count(breaker.calls);
      entry.cells.failures.textContent = count(breaker.failures);
      entry.cells.rejections.textContent = count(breaker.rejections);
      drawChart(entry.cells.svg, breaker);
    }
    for (const [name, entry] of rows) {
      if (!seen.has(name)) {
        entry.row.remove();
        rows.delete(name);
      }
    }
    tick();
  }

  // Counts the time left open down between polls.
  function tick() {
    const now = Date.now();
    for (const entry of rows.values()) {
      const b = entry.breaker;
      const left = b.state === 'open' ? (b.time_left_open_ms || 0) - (now - entry.receivedAt) : 0;
      entry.cells.timeLeft.textContent = formatDuration(left);
    }
  }

  async function getJson(path) {
    const response = await fetch(path, { cache: 'no-store', headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(path + ': HTTP ' + response.status);
    return response.json();
  }

  async function pollBreakers() {
    try {
      const breakers = await getJson('/api/breakers');
      if (!Array.isArray(breakers)) throw new Error('/api/breakers: not a JSON array');
      render(breakers);
      statusLine.textContent = 'updated ' + new Date().toLocaleTimeString() + ', every ' + interval + ' ms';
      statusLine.classList.remove('error');
    } catch (error) {
      statusLine.textContent = 'cannot read /api/breakers: ' + error.message + ' (retrying)';
      statusLine.classList.add('error');
    }
  }

  async function pollHealth() {
    try {
      const health = await getJson('/health');
      const cb = health.circuit_breakers || {};
      const status = typeof health.status === 'string' ? health.status : 'unknown';
      healthLine.textContent = 'health: ' + status + ' (' + count(cb.total) + ' breakers: ' +
        count(cb.closed) + ' closed, ' + count(cb.open) + ' open, ' + count(cb.half_open) + ' half-open)';
      healthLine.className = 'health health-' + (['healthy', 'degraded', 'unhealthy'].includes(status) ? status : 'unknown');
    } catch (error) {
      healthLine.textContent = 'health: cannot read /health: ' + error.message;
      healthLine.className = 'health health-error';
    }
  }

  // One poll at a time: the next starts `interval` after the previous finished.
  async function loop() {
    await Promise.all([pollBreakers(), pollHealth()]);
    setTimeout(loop, interval);
  }
  setInterval(tick, 250);
  loop();
})();
