// The reports that leave the system (auditors, supervisors, administrators): the annual report
// (counts only: CSV, PDF), the public-records export of the search log (CSV, only the fields
// the installation allows), the accountability report (HTML, PDF) and, for supervisors and
// auditors, the signed disclosure bundle of a case. And the outcomes control of the case page.
import { api, url } from "../api.js";
import { field, formatTime, h, input, replace, select, table } from "../dom.js";
import { withButton } from "./common.js";

const OUTCOMES = [
  ["victim_identified", "Victim identified"],
  ["victim_safeguarded", "Victim safeguarded"],
  ["suspect_identified", "Suspect identified"],
  ["arrest", "Arrest"],
  ["charge", "Charge"],
  ["conviction", "Conviction"],
  ["none", "No outcome"],
];

function download(href, label, name, id) {
  return h("a", { class: "button secondary", href, download: name, id }, label);
}

export async function reportsView(app) {
  const year = String(new Date().getUTCFullYear());
  const yearInput = input("year", { type: "number", min: 1970, max: 9998, value: year, id: "report-year", inputmode: "numeric" });
  const annualLinks = h("div", { class: "actions" });
  const summary = h("div", { id: "annual-summary" });
  const show = h("button", { type: "submit", id: "annual-show" }, "Show the counts");
  function updateLinks() {
    const y = yearInput.value.trim();
    replace(
      annualLinks,
      show,
      download(url("/reports/annual", { year: y, format: "csv" }), "Annual report (CSV)", `annual-${y}.csv`, "annual-csv"),
      download(url("/reports/annual", { year: y, format: "pdf" }), "Annual report (PDF)", `annual-${y}.pdf`, "annual-pdf"),
      download(url("/reports/public-records", { year: y }), "Public-records export (CSV)", `search-log-${y}.csv`, "public-records"),
    );
  }
  yearInput.addEventListener("input", updateLinks);
  updateLinks();
  const annualForm = h(
    "form",
    { class: "stack", on: { submit: (e) => {
      e.preventDefault();
      withButton(app, show, async () => {
        const d = await api("GET", "/reports/annual", { query: { year: yearInput.value.trim() } });
        replace(summary, annualTable(d));
      });
    } } },
    field("Year (UTC)", yearInput),
    annualLinks,
  );
  const disclosure = app.has("supervisor", "auditor") ? disclosureForm() : null;
  return h(
    "section",
    { id: "reports-page" },
    h("h1", {}, "Reports"),
    h("p", {}, "Reports that leave the system. Every one is written to the audit log: who took which report, when."),
    h("h2", {}, "Annual report and public records"),
    h("p", {}, "Counts by offence category (the case's purpose) of cases, searches, refusals, reviews, confirmed identifications and outcomes: no names, no images. The public-records export lists each search with only the fields this installation allows."),
    annualForm,
    summary,
    h("h2", {}, "Accountability report"),
    h("p", {}, "The service, its version, the models and their measured accuracy, the limits, the data sources, the policy in force, incidents and suspensions."),
    h(
      "div",
      { class: "actions" },
      download(url("/reports/accountability", { format: "html" }), "Accountability report (HTML)", "accountability.html", "accountability-html"),
      download(url("/reports/accountability", { format: "pdf" }), "Accountability report (PDF)", "accountability.pdf", "accountability-pdf"),
    ),
    disclosure ? [h("h2", {}, "Disclosure bundle of a case"), disclosure] : null,
  );
}

function annualTable(d) {
  const cats = Object.keys(d.by_category);
  const metrics = Object.keys(d.totals);
  return h(
    "div",
    { class: "card" },
    h("p", {}, `${d.start.slice(0, 10)} to ${d.end.slice(0, 10)}; audit log ${d.audit_log.ok ? "verified" : "DOES NOT VERIFY"}.`),
    table(
      ["Count", { label: "All", num: true }, ...cats.map((c) => ({ label: c, num: true }))],
      metrics.map((m) =>
        h(
          "tr",
          { dataset: { metric: m } },
          h("th", { scope: "row" }, m.replaceAll("_", " ")),
          h("td", { class: "num" }, String(d.totals[m])),
          cats.map((c) => h("td", { class: "num" }, m in d.by_category[c] ? String(d.by_category[c][m]) : "")),
        ),
      ),
      "Annual counts",
    ),
    table(
      ["Outcome", { label: "Count", num: true }],
      Object.entries(d.outcomes).map(([k, v]) => h("tr", { dataset: { outcome: k } }, h("th", { scope: "row" }, k.replaceAll("_", " ")), h("td", { class: "num" }, String(v)))),
      "Outcomes recorded",
    ),
  );
}

function disclosureForm() {
  const number = input("case", { id: "disclosure-case", required: true, maxlength: 64 });
  const link = download("#", "Download the signed bundle", "disclosure.zip", "disclosure-link");
  const update = () => {
    const n = number.value.trim();
    link.setAttribute("href", n ? url(`/cases/${encodeURIComponent(n)}/disclosure`) : "#");
    link.setAttribute("download", `disclosure-${n || "case"}.zip`);
  };
  number.addEventListener("input", update);
  return h(
    "div",
    { class: "stack" },
    h("p", {}, "Every search, probe, candidate, review and confirmation of the case, the model and its measured accuracy, the case's audit entries and the latest checkpoint: one zip whose manifest is signed with the audit key (check it with 'facesearch disclosure verify')."),
    field("Case number", number),
    h("div", { class: "actions" }, link),
  );
}

/** The case page's outcomes: listed for its readers; recorded by its requester or a
 * supervisor while the case is open or closed. */
export function outcomesSection(app, c) {
  const box = h("div", { id: "outcomes" });
  const base = `/cases/${encodeURIComponent(c.number)}/outcomes`;
  async function refresh() {
    const items = await api("GET", base);
    replace(
      box,
      items.length
        ? h("ul", { class: "outcomes" }, items.map((o) => h("li", { dataset: { outcome: o.kind } }, `${o.label} — ${formatTime(o.at)}, ${o.recorded_by}${o.note ? `: ${o.note}` : ""}`)))
        : h("p", { class: "muted" }, "No outcome recorded yet."),
    );
  }
  refresh().catch((err) => replace(box, h("p", { class: "muted" }, err.message)));
  const may = (app.has("supervisor") || (app.me && app.me.username === c.requested_by)) && ["open", "closed"].includes(c.status);
  let form = null;
  if (may) {
    const kind = select("kind", OUTCOMES, { id: "outcome-kind" });
    const note = input("note", { id: "outcome-note", maxlength: 2000 });
    const submit = h("button", { type: "submit", id: "record-outcome" }, "Record the outcome");
    form = h(
      "form",
      { class: "stack", id: "outcome-form", on: { submit: (e) => {
        e.preventDefault();
        withButton(app, submit, async () => {
          await api("POST", base, { json: { kind: kind.value, note: note.value.trim() } });
          app.flash("Outcome recorded.");
          note.value = "";
          await refresh();
        });
      } } },
      field("Outcome", kind),
      field("Note (optional; no names needed)", note),
      h("div", { class: "actions" }, submit),
    );
  }
  return h(
    "section",
    {},
    h("h2", {}, "Outcomes"),
    h("p", {}, "What the leads came to, counted (never named) by the annual report."),
    box,
    form,
  );
}
