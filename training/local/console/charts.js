// Hand-drawn SVG charts for the console: lines over time with interval bands, and bars with
// interval whiskers. No library, no network; every label is set as text, never as markup.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const PALETTE = ["#1f5fbf", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207"];
  const SIZE = { width: 640, height: 260, left: 48, right: 28, top: 12, bottom: 34 };

  function el(name, attributes, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, content, attributes) {
    const node = el("text", { x, y, ...attributes }, parent);
    node.textContent = content;
    return node;
  }

  function frame(container, label) {
    container.replaceChildren();
    const svg = el("svg", {
      viewBox: `0 0 ${SIZE.width} ${SIZE.height}`,
      role: "img",
      "aria-label": label,
      class: "svg-chart",
    });
    container.appendChild(svg);
    return svg;
  }

  function empty(container, message) {
    container.replaceChildren();
    const note = document.createElement("p");
    note.className = "empty";
    note.textContent = message;
    container.appendChild(note);
  }

  // the top of the y axis: four steps of 1, 2, 2.5 or 5 times a power of ten
  function niceMax(value) {
    if (!(value > 0)) return 0.1;
    const raw = value / 4;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw - 1e-12);
    return 4 * step;
  }

  function yAxis(svg, maxY, format) {
    const inner = SIZE.height - SIZE.top - SIZE.bottom;
    for (let i = 0; i <= 4; i++) {
      const value = (maxY * i) / 4;
      const y = SIZE.top + inner - (inner * i) / 4;
      el("line", { x1: SIZE.left, x2: SIZE.width - SIZE.right, y1: y, y2: y, class: "grid" }, svg);
      text(svg, SIZE.left - 6, y + 4, format(value), { "text-anchor": "end", class: "tick" });
    }
    return (value) => SIZE.top + inner - (inner * Math.min(value, maxY)) / maxY;
  }

  function legend(container, names) {
    const list = document.createElement("ul");
    list.className = "legend";
    names.forEach((name, n) => {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = PALETTE[n % PALETTE.length];
      item.append(swatch, document.createTextNode(name));
      list.appendChild(item);
    });
    container.appendChild(list);
  }

  // series: [{name, points: [{x: label, value, low, high, detail}]}], all on the same x labels
  function lines(container, xLabels, series, options) {
    const drawn = series.filter((s) => s.points.some((p) => p.value !== null));
    if (!drawn.length) return empty(container, options.emptyMessage);
    const svg = frame(container, options.label);
    const highs = drawn.flatMap((s) => s.points.map((p) => p.high ?? p.value ?? 0));
    const y = yAxis(svg, niceMax(Math.max(...highs)), options.format);
    const inner = SIZE.width - SIZE.left - SIZE.right;
    const x = (n) => SIZE.left + (xLabels.length === 1 ? inner / 2 : (inner * n) / (xLabels.length - 1));
    const every = Math.max(1, Math.ceil(xLabels.length / 8));
    xLabels.forEach((label, n) => {
      if (n % every === 0) text(svg, x(n), SIZE.height - 12, label, { "text-anchor": "middle", class: "tick" });
    });
    drawn.forEach((s, index) => {
      const colour = PALETTE[index % PALETTE.length];
      const known = s.points.map((p, n) => ({ ...p, n })).filter((p) => p.value !== null);
      const banded = known.filter((p) => p.low !== null && p.high !== null);
      if (banded.length > 1) {
        const top = banded.map((p) => `${x(p.n)},${y(p.high)}`);
        const bottom = banded.slice().reverse().map((p) => `${x(p.n)},${y(p.low)}`);
        el("polygon", { points: top.concat(bottom).join(" "), fill: colour, class: "band" }, svg);
      }
      if (known.length > 1) {
        el("polyline", { points: known.map((p) => `${x(p.n)},${y(p.value)}`).join(" "),
                         stroke: colour, class: "line" }, svg);
      }
      for (const p of known) {
        const dot = el("circle", { cx: x(p.n), cy: y(p.value), r: 3.5, fill: colour, class: "point" }, svg);
        el("title", {}, dot).textContent = `${s.name}, ${xLabels[p.n]}: ${p.detail}`;
      }
    });
    legend(container, drawn.map((s) => s.name));
  }

  // bars: [{label, value, low, high, detail}]
  function bars(container, bars, options) {
    const drawn = bars.filter((b) => b.value !== null);
    if (!drawn.length) return empty(container, options.emptyMessage);
    const svg = frame(container, options.label);
    const y = yAxis(svg, niceMax(Math.max(...drawn.map((b) => b.high ?? b.value))), options.format);
    const inner = SIZE.width - SIZE.left - SIZE.right;
    const slot = inner / drawn.length;
    drawn.forEach((b, n) => {
      const left = SIZE.left + n * slot + slot * 0.15;
      const width = slot * 0.7;
      const bar = el("rect", { x: left, y: y(b.value), width, height: y(0) - y(b.value),
                               fill: PALETTE[0], class: "point bar" }, svg);
      el("title", {}, bar).textContent = `${options.xName} ${b.label}: ${b.detail}`;
      if (b.low !== null && b.high !== null) {
        const middle = left + width / 2;
        el("line", { x1: middle, x2: middle, y1: y(b.low), y2: y(b.high), class: "whisker" }, svg);
      }
      if (drawn.length <= 20 || n % Math.ceil(drawn.length / 20) === 0) {
        text(svg, left + width / 2, SIZE.height - 12, b.label, { "text-anchor": "middle", class: "tick" });
      }
    });
  }

  window.MediarecCharts = { lines, bars, empty };
})();
