// chart.js - small line charts as plain SVG (no library): one series over time, failures marked.
'use strict';
const SVGNS = 'http://www.w3.org/2000/svg';

function svgEl(name, attrs, text) {
  const e = document.createElementNS(SVGNS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// points: [{t: ms, v: number}] (good backups); fails: [ms] (failed backups, drawn as red crosses).
// fmt formats a y value. Returns an <svg> element with data-points / data-failures for tests.
function timeChart(title, points, fails, fmt) {
  const W = 560, H = 200, L = 62, R = 12, T = 22, B = 28;
  const svg = svgEl('svg', {viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title,
                            'data-points': points.length, 'data-failures': fails.length});
  svg.appendChild(svgEl('text', {x: L, y: 14}, title));
  const ts = points.map(p => p.t).concat(fails);
  if (!ts.length) {
    svg.appendChild(svgEl('text', {x: W / 2, y: H / 2, 'text-anchor': 'middle'}, 'no backups yet'));
    return svg;
  }
  let t0 = Math.min(...ts), t1 = Math.max(...ts);
  if (t1 - t0 < 60000) { t0 -= 30000; t1 += 30000; }
  const vmax = niceMax(Math.max(0, ...points.map(p => p.v)));
  const x = t => L + (t - t0) / (t1 - t0) * (W - L - R);
  const y = v => H - B - v / vmax * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = vmax * i / 4, yy = y(v);
    svg.appendChild(svgEl('line', {x1: L, x2: W - R, y1: yy, y2: yy, class: i ? 'gridline' : 'axis'}));
    svg.appendChild(svgEl('text', {x: L - 6, y: yy + 4, 'text-anchor': 'end'}, fmt(v)));
  }
  const day = t1 - t0 > 2 * 86400000;
  [[t0, 'start'], [(t0 + t1) / 2, 'middle'], [t1, 'end']].forEach(([t, anchor]) => {
    const d = new Date(t);
    const s = day ? d.toISOString().slice(5, 10) : d.toISOString().slice(11, 16);
    svg.appendChild(svgEl('text', {x: x(t), y: H - 8, 'text-anchor': anchor}, s));
  });
  const pts = points.slice().sort((a, b) => a.t - b.t);
  if (pts.length > 1)
    svg.appendChild(svgEl('polyline', {class: 'line', points: pts.map(p => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ')}));
  for (const p of pts) {
    const c = svgEl('circle', {cx: x(p.t), cy: y(p.v), r: 3.5, class: 'pt'});
    c.appendChild(svgEl('title', {}, `${new Date(p.t).toISOString()}: ${fmt(p.v)}`));
    svg.appendChild(c);
  }
  for (const t of fails) {
    const cx = x(t), cy = H - B - 8, g = svgEl('g', {class: 'fail'});
    g.appendChild(svgEl('line', {x1: cx - 5, y1: cy - 5, x2: cx + 5, y2: cy + 5}));
    g.appendChild(svgEl('line', {x1: cx - 5, y1: cy + 5, x2: cx + 5, y2: cy - 5}));
    g.appendChild(svgEl('title', {}, `failed at ${new Date(t).toISOString()}`));
    svg.appendChild(g);
  }
  return svg;
}
window.timeChart = timeChart;
