// Charts drawn as SVG by hand: a sparkline, and the score-versus-threshold chart whose point
// labels never overlap (they are placed in a column and pushed apart, with leader lines).

import { esc } from "./util.js";

const NS = "http://www.w3.org/2000/svg";

/** A sparkline of ``values`` (newest last) as an SVG string. */
export function sparkline(values, { width = 240, height = 40, slots = 60, label = "" } = {}) {
  // Newest sample at the right edge, one slot per second; a baseline shows an empty minute too.
  const max = Math.max(1, ...values);
  const step = (width - 2) / (slots - 1);
  const xs = (i) => width - 1 - (values.length - 1 - i) * step;
  const ys = (v) => height - 2 - (v / max) * (height - 6);
  const pts = values.slice(-slots).map((v, i, a) => `${xs(i + values.length - a.length).toFixed(1)},${ys(v).toFixed(1)}`);
  const line = pts.length > 1 ? `M${pts.join("L")}` : "";
  const area = line ? `${line}L${xs(values.length - 1).toFixed(1)},${height - 1}L${pts[0].split(",")[0]},${height - 1}Z` : "";
  return `<svg xmlns="${NS}" class="sparkline" viewBox="0 0 ${width} ${height}" width="100%" height="${height}" role="img" aria-label="${esc(label)}" preserveAspectRatio="none">`
    + `<line class="axis" x1="0" x2="${width}" y1="${height - 1}" y2="${height - 1}"/>`
    + `<path class="sparkfill" d="${area}"/><path class="spark" d="${line}"/></svg>`;
}

/**
 * Spread label positions so neighbours are at least ``gap`` apart, staying inside [lo, hi].
 * ``wanted`` is the ideal coordinate of each label; returns the placed coordinates in input order.
 */
export function spreadLabels(wanted, gap, lo, hi) {
  const order = wanted.map((y, i) => [y, i]).sort((a, b) => a[0] - b[0]);
  const placed = order.map(([y]) => Math.min(Math.max(y, lo), hi));
  for (let k = 1; k < placed.length; k++) placed[k] = Math.max(placed[k], placed[k - 1] + gap);
  if (placed.length && placed[placed.length - 1] > hi) {
    placed[placed.length - 1] = hi;
    for (let k = placed.length - 2; k >= 0; k--) placed[k] = Math.min(placed[k], placed[k + 1] - gap);
  }
  const out = new Array(wanted.length);
  order.forEach(([, i], k) => { out[i] = placed[k]; });
  return out;
}

/**
 * Score versus threshold per iteration of each phase.
 * ``series``: [{phase, points: [{iteration, score, threshold, passed}]}], scores in 0..100.
 */
export function scoreChart(series, { width = 640, rowHeight = 0 } = {}) {
  const points = [];
  series.forEach((s, si) => s.points.forEach((p) => points.push({ ...p, phase: s.phase, si })));
  const pad = { l: 40, r: 170, t: 14, b: 30 };
  const height = Math.max(220, rowHeight);
  const n = points.length;
  const plotW = width - pad.l - pad.r;
  const plotH = height - pad.t - pad.b;
  const x = (i) => pad.l + (n <= 1 ? plotW / 2 : (i * plotW) / (n - 1));
  const y = (v) => pad.t + plotH - (Math.max(0, Math.min(100, v)) / 100) * plotH;
  let out = `<svg xmlns="${NS}" class="score-chart" viewBox="0 0 ${width} ${height}" width="100%" style="max-width:${width}px" role="img" aria-label="gate score versus threshold per iteration">`;
  for (const v of [0, 25, 50, 75, 100]) {
    out += `<line class="axis" x1="${pad.l}" x2="${pad.l + plotW}" y1="${y(v)}" y2="${y(v)}"/>`;
    out += `<text x="${pad.l - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`;
  }
  if (n) {
    out += `<path class="thr" d="M${points.map((p, i) => `${x(i)},${y(p.threshold)}`).join("L")}"/>`;
    out += `<path class="score" d="M${points.map((p, i) => `${x(i)},${y(p.score)}`).join("L")}"/>`;
  }
  // Labels live in a column right of the plot, spread so they never overlap, joined by leader lines.
  const wanted = points.map((p) => y(p.score));
  const placed = spreadLabels(wanted, 14, pad.t + 6, height - pad.b);
  points.forEach((p, i) => {
    const cx = x(i);
    const cy = y(p.score);
    out += `<circle class="${p.passed ? "dot-pass" : "dot-fail"}" cx="${cx}" cy="${cy}" r="4"><title>${esc(p.phase)} #${p.iteration}: ${p.score.toFixed(1)} / ${p.threshold}</title></circle>`;
    const lx = pad.l + plotW + 12;
    out += `<line class="leader" x1="${cx + 4}" y1="${cy}" x2="${lx - 2}" y2="${placed[i] - 4}"/>`;
    out += `<text class="plabel" x="${lx}" y="${placed[i]}">${esc(p.phase)} #${p.iteration} ${p.score.toFixed(0)}/${p.threshold}</text>`;
    out += `<text x="${cx}" y="${height - pad.b + 16}" text-anchor="middle">${i + 1}</text>`;
  });
  out += `<text x="${pad.l}" y="${height - 4}" class="muted">gate evaluations in order; dashed: threshold</text>`;
  return out + "</svg>";
}
