// Horizontal bar charts drawn as SVG (no chart library, nothing from a CDN). Each chart has a
// caption and a text alternative; the figures are also given as a table beside it.
const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * rows: [[label, value, secondValue?]]; the second value (e.g. refused attempts) is drawn as
 * a thinner red bar under the first.
 */
export function barChart(title, rows, { valueName = "searches", secondName = null } = {}) {
  const figure = document.createElement("figure");
  figure.className = "chart";
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.append(caption);
  const width = 460;
  const labelWidth = 150;
  const rowHeight = secondName ? 30 : 22;
  const height = Math.max(1, rows.length) * rowHeight + 10;
  const max = Math.max(1, ...rows.map((r) => Math.max(r[1], r[2] || 0)));
  const summary = rows.map((r) => `${r[0]}: ${r[1]} ${valueName}${secondName ? `, ${r[2] || 0} ${secondName}` : ""}`).join("; ");
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${title}. ${summary || "no data"}` });
  if (!rows.length) root.append(svg("text", { x: 4, y: 16 }, "no data"));
  rows.forEach(([label, value, second], i) => {
    const y = 5 + i * rowHeight;
    const barWidth = ((width - labelWidth - 40) * value) / max;
    root.append(svg("text", { x: labelWidth - 6, y: y + 13, "text-anchor": "end" }, String(label).slice(0, 22)));
    root.append(svg("rect", { class: "bar", x: labelWidth, y, width: Math.max(barWidth, value ? 2 : 0), height: 16 }));
    root.append(svg("text", { x: labelWidth + barWidth + 4, y: y + 13 }, String(value)));
    if (secondName) {
      const w2 = ((width - labelWidth - 40) * (second || 0)) / max;
      root.append(svg("rect", { class: "bar-refused", x: labelWidth, y: y + 18, width: Math.max(w2, second ? 2 : 0), height: 6 }));
    }
  });
  figure.append(root);
  return figure;
}
