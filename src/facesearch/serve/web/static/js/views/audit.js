import { api } from "../api.js";
import { field, h, input, replace, select, table } from "../dom.js";
import { barChart } from "../chart.js";
import { errorBox, withButton } from "./common.js";

const METRICS = ["searches", "refused", "views", "exports", "reviews", "candidates_shown", "possible_matches"];

/** The audit chain's state, the oversight report with charts, and its anomalies. */
export async function auditView(app, _params, query) {
  const chainBox = h("div", { id: "chain", "aria-live": "polite" });
  const reportBox = h("div", { id: "oversight" });
  const canVerify = app.has("auditor", "administrator");
  const canReport = app.has("auditor", "supervisor");

  const verify = h("button", { type: "button", id: "verify" }, "Verify the chain now");
  verify.addEventListener("click", () => withButton(app, verify, async () => showVerify(await api("POST", "/audit/verify"))));
  function showVerify(v) {
    replace(
      chainBox,
      v.ok
        ? h("p", { class: "chain-ok" }, `Intact: ${v.checked} entries checked.`)
        : h("p", { class: "chain-bad" }, `Broken at entry #${v.first_bad_seq}: ${v.problem} (${v.checked} checked).`),
    );
  }

  const period = select("period", [["week", "week"], ["day", "day"], ["month", "month"]]);
  period.value = query.get("period") || "week";
  const start = input("start", { type: "date", value: query.get("start") || "" });
  const end = input("end", { type: "date", value: query.get("end") || "" });
  const load = h("button", { type: "submit" }, "Show the report");
  async function loadReport() {
    try {
      const report = await api("GET", "/audit/report", { query: { period: period.value, start: start.value, end: end.value } });
      replace(reportBox, renderReport(report));
      if (!canVerify && report.chain) showVerify({ ok: report.chain.ok, checked: report.chain.entries, first_bad_seq: report.chain.first_bad_seq, problem: report.chain.problem });
    } catch (err) {
      replace(reportBox, errorBox(err));
    }
  }
  const form = h("form", { class: "inline", on: { submit: (e) => { e.preventDefault(); withButton(app, load, loadReport); } } }, field("Period", period), field("From", start), field("To", end), load);

  if (canVerify) showVerify(await api("POST", "/audit/verify"));
  if (canReport) await loadReport();
  return h(
    "section",
    {},
    h("h1", {}, "Audit"),
    h("h2", {}, "The audit chain"),
    h("p", {}, "Every search, view, export, review, reveal and administrative act is an entry holding the hash of the one before it."),
    chainBox,
    canVerify ? h("div", { class: "actions" }, verify) : null,
    canReport ? [h("h2", {}, "Oversight report"), form, reportBox] : null,
  );
}

function rowsOf(tableObj) {
  return Object.entries(tableObj || {}).map(([key, m]) => [key, m.searches || 0, m.refused || 0]);
}

function figuresTable(title, tableObj) {
  const rows = Object.entries(tableObj || {}).map(([key, m]) =>
    h("tr", {}, h("th", { scope: "row" }, key), METRICS.map((x) => h("td", { class: "num" }, String(m[x] || 0)))),
  );
  return h("details", {}, h("summary", {}, `${title}: the figures`), table([title, ...METRICS.map((m) => ({ label: m.replaceAll("_", " "), num: true }))], rows, title));
}

function renderReport(report) {
  const totals = report.totals || {};
  const opts = { valueName: "searches", secondName: "refused" };
  const sections = [
    ["Searches by user", report.by_user],
    ["Searches by case", report.by_case],
    ["Searches by purpose", report.by_purpose],
    [`Searches by ${report.period}`, report.by_period],
  ];
  return h(
    "div",
    {},
    h("p", {}, `${report.entries} entries${report.start ? ` from ${report.start}` : ""}${report.end ? ` to ${report.end}` : ""}. Totals: `, METRICS.map((m) => `${m.replaceAll("_", " ")} ${totals[m] || 0}`).join(", "), "."),
    h("p", { class: "muted" }, "Bars: searches (blue), refused attempts (red, thin)."),
    h("div", { class: "charts" }, sections.map(([title, data]) => h("div", {}, barChart(title, rowsOf(data), opts), figuresTable(title.replace("Searches by ", "By "), data)))),
    h("h2", {}, "Anomalies"),
    (report.anomalies || []).length
      ? h("ul", { id: "anomalies" }, report.anomalies.map((a) => h("li", {}, h("strong", {}, a.rule), `: ${a.message}`, a.seqs?.length ? ` (entries ${a.seqs.join(", ")})` : "")))
      : h("p", { id: "anomalies" }, "No anomaly found."),
  );
}
