// Horizontal bar charts drawn as SVG (no chart library, nothing from a CDN). Each chart has a
// caption and a text alternative; the figures are also given as a table below it.
// The SVG is drawn at its own pixel size (never scaled down to fit a narrow column, which made
// its labels unreadably small): its text is 13 px; a narrow screen scrolls the chart sideways.
const NS = "http://www.w3.org/2000/svg";
export const LABEL_PX = 13;

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function cut(label, max = 22) {
  const text = String(label);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
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
  const width = 480;
  const labelWidth = 180;
  const rowHeight = secondName ? 32 : 24;
  const height = Math.max(1, rows.length) * rowHeight + 10;
  const max = Math.max(1, ...rows.map((r) => Math.max(r[1], r[2] || 0)));
  const span = width - labelWidth - 48;
  const summary = rows.map((r) => `${r[0]}: ${r[1]} ${valueName}${secondName ? `, ${r[2] || 0} ${secondName}` : ""}`).join("; ");
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    "font-size": LABEL_PX,
    role: "img",
    "aria-label": `${title}. ${summary || "no data"}`,
  });
  if (!rows.length) root.append(svg("text", { x: 4, y: 18 }, "no data"));
  rows.forEach(([label, value, second], i) => {
    const y = 5 + i * rowHeight;
    const barWidth = (span * value) / max;
    const name = svg("text", { x: labelWidth - 6, y: y + 14, "text-anchor": "end" }, cut(label));
    if (cut(label) !== String(label)) name.append(svg("title", {}, String(label)));
    root.append(name);
    root.append(svg("rect", { class: "bar", x: labelWidth, y, width: Math.max(barWidth, value ? 2 : 0), height: 18 }));
    root.append(svg("text", { x: labelWidth + barWidth + 4, y: y + 14 }, String(value)));
    if (secondName) {
      const w2 = (span * (second || 0)) / max;
      root.append(svg("rect", { class: "bar-refused", x: labelWidth, y: y + 20, width: Math.max(w2, second ? 2 : 0), height: 7 }));
    }
  });
  const scroll = document.createElement("div");
  scroll.className = "chart-scroll";
  scroll.tabIndex = 0; // scrolled with the keyboard on a narrow screen
  scroll.setAttribute("role", "group");
  scroll.setAttribute("aria-label", `${title} (chart)`);
  scroll.append(root);
  figure.append(scroll);
  return figure;
}
