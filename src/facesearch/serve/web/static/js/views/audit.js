import { api, url } from "../api.js";
import { field, h, input, replace, select, table, uid } from "../dom.js";
import { barChart } from "../chart.js";
import { errorBox, withButton } from "./common.js";

const METRICS = ["searches", "refused", "views", "exports", "reviews", "candidates_shown", "possible_matches"];
const PAGE = 25;
const KIND_WORDS = {
  audit_chain: "Audit chain broken",
  unreviewed: "Searches never reviewed",
  reveal_rate: "High reveal rate",
  out_of_hours: "Out-of-hours searches",
  many_cases: "Many cases in a short time",
  repeated_refusals: "Repeated refusals",
  login_burst: "Burst of failed sign-ins",
  many_searches: "Many searches in one case",
  outside_case_dates: "Search outside the case's dates",
  no_case: "Search without a case",
  unassigned: "Search by an unassigned user",
};
const OUTCOME_WORDS = { ok: "done", refused: "refused", failed: "failed" };

/** An audit time ("2026-12-07T09:04:58.123456Z") as "2026-12-07 09:04:58 UTC". */
export function stamp(ts) {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(ts || "");
  return m ? `${m[1]} ${m[2]} UTC` : ts || "";
}

/** The day after a date input's value, as the exclusive end of a range (UTC). */
function dayAfter(value) {
  const d = new Date(`${value}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

function caseLink(number) {
  return h("a", { href: `#/cases/${encodeURIComponent(number)}` }, `case ${number}`);
}

function searchLink(id) {
  return h("a", { href: `#/searches/${id}` }, `search ${id}`);
}

function joined(nodes, sep = ", ") {
  return nodes.flatMap((n, i) => (i ? [sep, n] : [n]));
}

/** The audit chain, its signed checkpoints, the oversight report and the audit entries. */
export async function auditView(app, _params, query) {
  const chainBox = h("div", { id: "chain", "aria-live": "polite" });
  const stateBox = h("div", { id: "checkpoint" });
  const reportBox = h("div", { id: "oversight" });
  const canVerify = app.has("auditor", "administrator");
  const canReport = app.has("auditor", "supervisor");

  const verify = h("button", { type: "button", id: "verify" }, "Verify the chain now");
  verify.addEventListener("click", () =>
    withButton(app, verify, async () => {
      showVerify(await api("POST", "/audit/verify"));
      await loadState();
    }),
  );
  function showVerify(v) {
    replace(
      chainBox,
      v.ok
        ? h("p", { class: "chain-ok" }, `Intact: ${v.checked} entries checked.`)
        : h("p", { class: "chain-bad" }, `Broken at entry #${v.first_bad_seq}: ${v.problem} (${v.checked} checked).`),
    );
  }
  async function loadState() {
    try {
      replace(stateBox, renderState(await api("GET", "/audit/state")));
    } catch (err) {
      replace(stateBox, errorBox(err));
    }
  }

  const browser = entriesBrowser(app);

  const period = select("period", [["week", "week"], ["day", "day"], ["month", "month"]]);
  period.value = query.get("period") || "week";
  const start = input("start", { type: "date", value: query.get("start") || "" });
  const end = input("end", { type: "date", value: query.get("end") || "" });
  const load = h("button", { type: "submit" }, "Show the report");
  async function loadReport() {
    try {
      const report = await api("GET", "/audit/report", { query: { period: period.value, start: start.value, end: end.value } });
      replace(reportBox, renderReport(report, browser.showActor));
      if (!canVerify && report.chain) showVerify({ ok: report.chain.ok, checked: report.chain.entries, first_bad_seq: report.chain.first_bad_seq, problem: report.chain.problem });
    } catch (err) {
      replace(reportBox, errorBox(err));
    }
  }
  const form = h("form", { class: "inline", on: { submit: (e) => { e.preventDefault(); withButton(app, load, loadReport); } } }, field("Period", period), field("From", start), field("To", end), load);

  if (canVerify) showVerify(await api("POST", "/audit/verify"));
  await loadState();
  if (canReport) await loadReport();
  await browser.load();
  return h(
    "section",
    { class: "audit-view" },
    h("h1", {}, "Audit"),
    h("h2", {}, "The audit chain"),
    h("p", {}, "Every search, view, export, review, reveal and administrative act is an entry holding the hash of the one before it."),
    chainBox,
    canVerify ? h("div", { class: "actions" }, verify) : null,
    h("h3", {}, "Signed checkpoints"),
    h("p", { class: "muted" }, "A checkpoint is the log's head signed with a key kept elsewhere: it shows later that no entry up to it was removed or changed."),
    stateBox,
    canReport ? [h("h2", {}, "Oversight report"), form, reportBox] : null,
    h("h2", { id: "entries-heading" }, "Audit entries"),
    browser.node,
  );
}

function renderState(s) {
  const cp = s.checkpoint;
  if (!cp) {
    return h(
      "p",
      { class: "checkpoint-none" },
      `No signed checkpoint is recorded yet: none of the ${s.head_seq} entries is covered by a signed copy of the head. `,
      "An auditor or administrator signs one with “facesearch audit checkpoint”, or the policy's [audit] section writes them automatically.",
    );
  }
  return h(
    "dl",
    { class: "details" },
    h("dt", {}, "Last signed checkpoint"),
    h("dd", {}, `entry #${cp.seq}, recorded ${stamp(cp.entry_ts)}`),
    h("dt", {}, "Signed"),
    h("dd", {}, stamp(cp.signed_at)),
    h("dt", {}, "Key id"),
    h("dd", {}, h("code", {}, cp.key_id)),
    h("dt", {}, "Held by the log"),
    h(
      "dd",
      {},
      cp.held
        ? h("span", { class: "chain-ok" }, "yes: the log still holds that entry, unchanged")
        : h("span", { class: "chain-bad" }, `NO: ${cp.problems.join("; ")}`),
    ),
    h("dt", {}, "Entries since"),
    h("dd", { id: "entries-since" }, `${s.entries_since} (the head is entry #${s.head_seq})`),
  );
}

/** The filterable list of audit entries, with each entry's detail and a CSV download. */
function entriesBrowser(app) {
  const actor = input("actor", { autocomplete: "off" });
  const action = input("action", { autocomplete: "off" });
  const caseNo = input("case", { autocomplete: "off" });
  const from = input("since", { type: "date" });
  const to = input("until", { type: "date" });
  const outcome = select("outcome", [["", "any"], ["ok", "done"], ["refused", "refused"], ["failed", "failed"]]);
  const show = h("button", { type: "submit" }, "Show entries");
  const csv = h("a", { class: "button secondary", id: "entries-csv", download: "audit-entries.csv" }, "Download these entries (CSV)");
  const listBox = h("div", { id: "entries", "aria-live": "polite" });
  let offset = 0;

  function filters() {
    const q = { actor: actor.value.trim(), case: caseNo.value.trim(), outcome: outcome.value };
    const a = action.value.trim();
    if (a.endsWith("*")) q.action_prefix = a.slice(0, -1);
    else if (a.endsWith(".")) q.action_prefix = a;
    else q.action = a;
    if (from.value) q.since = `${from.value}T00:00:00Z`;
    if (to.value) q.until = `${dayAfter(to.value)}T00:00:00Z`;
    return q;
  }

  async function load() {
    const q = filters();
    csv.href = url("/audit/entries.csv", q);
    try {
      const page = await api("GET", "/audit/entries", { query: { ...q, limit: PAGE, offset } });
      replace(listBox, renderPage(page));
    } catch (err) {
      replace(listBox, errorBox(err));
    }
  }

  function renderPage(page) {
    const items = page.items || [];
    const older = h("button", { type: "button", class: "secondary", disabled: offset + items.length >= page.total, on: { click: () => { offset += PAGE; load(); } } }, "Older entries");
    const newer = h("button", { type: "button", class: "secondary", disabled: offset === 0, on: { click: () => { offset = Math.max(0, offset - PAGE); load(); } } }, "Newer entries");
    const rows = items.map((e) => entryRow(e));
    return [
      h("p", { class: "entries-count" }, items.length ? `Entries ${offset + 1}–${offset + items.length} of ${page.total}, newest first.` : "No entry matches these filters."),
      items.length
        ? h("div", { class: "table-scroll", tabindex: "0", role: "group", "aria-label": "Audit entries (table)" }, table(["#", "Time", "Who", "Action", "Case", "What", { label: "Detail" }], rows, "Audit entries"))
        : null,
      h("div", { class: "actions pager" }, newer, older),
    ];
  }

  function entryRow(e) {
    const detailId = uid("entry");
    const button = h("button", { type: "button", class: "secondary small", "aria-expanded": "false", "aria-controls": detailId, "aria-label": `Details of entry ${e.seq}` }, "Details");
    const row = h(
      "tr",
      { dataset: { seq: String(e.seq) }, class: `outcome-${e.outcome}` },
      h("td", { class: "num" }, String(e.seq)),
      h("td", { class: "time" }, stamp(e.ts)),
      h("td", {}, e.actor),
      h("td", {}, e.action, e.outcome !== "ok" ? h("span", { class: `outcome outcome-${e.outcome}` }, ` (${OUTCOME_WORDS[e.outcome]})`) : null),
      h("td", { class: "case" }, e.case || ""),
      h("td", { class: "summary" }, e.summary),
      h("td", {}, button),
    );
    button.addEventListener("click", async () => {
      const open = document.getElementById(detailId);
      if (open) {
        open.remove();
        button.setAttribute("aria-expanded", "false");
        return;
      }
      button.disabled = true;
      let content;
      try {
        content = entryDetail(await api("GET", `/audit/entries/${e.seq}`));
      } catch (err) {
        content = errorBox(err);
      } finally {
        button.disabled = false;
      }
      row.after(h("tr", { id: detailId, class: "entry-detail" }, h("td", { colspan: "7" }, content)));
      button.setAttribute("aria-expanded", "true");
    });
    return row;
  }

  function showActor(name) {
    actor.value = name;
    action.value = "";
    caseNo.value = "";
    outcome.value = "";
    offset = 0;
    load().then(() => document.getElementById("entries-heading")?.scrollIntoView());
  }

  const form = h(
    "form",
    { class: "inline", id: "entry-filters", on: { submit: (e) => { e.preventDefault(); offset = 0; withButton(app, show, load); } } },
    field("Who (user name)", actor),
    field("Action", action, "exact, or a prefix ending in * (case.*)"),
    field("Case", caseNo),
    field("From", from),
    field("To (inclusive)", to),
    field("Outcome", outcome),
    show,
  );
  const node = h("div", { class: "entries-browser" }, form, h("div", { class: "actions" }, csv), listBox);
  return { node, load, showActor };
}

function entryDetail(e) {
  const links = [];
  if (e.case && e.outcome === "ok") links.push(caseLink(e.case));
  const sid = e.details ? e.details.search_id : null;
  if (Number.isInteger(sid)) links.push(searchLink(sid));
  return h(
    "div",
    { class: "entry-detail-body" },
    h(
      "dl",
      { class: "details" },
      h("dt", {}, "Entry"),
      h("dd", {}, `#${e.seq}`),
      h("dt", {}, "Time"),
      h("dd", {}, stamp(e.ts)),
      h("dt", {}, "Who"),
      h("dd", {}, e.actor),
      h("dt", {}, "Action"),
      h("dd", {}, `${e.action} (${OUTCOME_WORDS[e.outcome] || e.outcome})`),
      h("dt", {}, "Case"),
      h("dd", {}, e.case || "none"),
      h("dt", {}, "Hash"),
      h("dd", {}, h("code", { class: "hash" }, e.hash)),
      h("dt", {}, "Previous hash"),
      h("dd", {}, h("code", { class: "hash" }, e.prev_hash)),
    ),
    links.length ? h("p", {}, "Open: ", joined(links)) : null,
    h("pre", { class: "entry-json", "aria-label": `Details recorded in entry ${e.seq}` }, JSON.stringify(e.details, null, 2)),
  );
}

function rowsOf(tableObj) {
  return Object.entries(tableObj || {}).map(([key, m]) => [key, m.searches || 0, m.refused || 0]);
}

function figuresTable(title, tableObj) {
  const rows = Object.entries(tableObj || {}).map(([key, m]) =>
    h("tr", {}, h("th", { scope: "row" }, key), METRICS.map((x) => h("td", { class: "num" }, String(m[x] || 0)))),
  );
  return h(
    "details",
    { class: "figures" },
    h("summary", {}, `${title}: the figures`),
    h("div", { class: "table-scroll", tabindex: "0", role: "group", "aria-label": `${title} (table)` }, table([title, ...METRICS.map((m) => ({ label: m.replaceAll("_", " "), num: true }))], rows, title)),
  );
}

function anomalyItem(a, showActor) {
  const links = [];
  if (a.case) links.push(caseLink(a.case));
  for (const sid of (a.search_ids || []).slice(0, 5)) links.push(searchLink(sid));
  const seqs = a.seqs || [];
  const refs = seqs.length ? `entries ${seqs.slice(0, 10).map((s) => `#${s}`).join(", ")}${seqs.length > 10 ? " …" : ""}` : "";
  return h(
    "li",
    { class: "anomaly", dataset: { kind: a.rule } },
    h("strong", {}, KIND_WORDS[a.rule] || a.rule),
    `: ${a.message}`,
    a.why ? h("p", { class: "why" }, `Why flagged: ${a.why}`) : null,
    h(
      "p",
      { class: "refs" },
      joined([...links, refs].filter(Boolean)),
      a.actor ? [" ", h("button", { type: "button", class: "secondary small", on: { click: () => showActor(a.actor) } }, `Entries by ${a.actor}`)] : null,
    ),
  );
}

function renderReport(report, showActor) {
  const totals = report.totals || {};
  const opts = { valueName: "searches", secondName: "refused" };
  const sections = [
    ["Searches by user", report.by_user],
    ["Searches by case", report.by_case],
    ["Searches by purpose", report.by_purpose],
    [`Searches by ${report.period}`, report.by_period],
  ];
  const anomalies = report.anomalies || [];
  return h(
    "div",
    {},
    h("p", {}, `${report.entries} entries${report.start ? ` from ${stamp(report.start)}` : ""}${report.end ? ` to ${stamp(report.end)}` : ""}. Totals: `, METRICS.map((m) => `${m.replaceAll("_", " ")} ${totals[m] || 0}`).join(", "), "."),
    h("p", { class: "muted" }, "Bars: searches (blue), refused attempts (red, thin). Refused requests naming a case that does not exist are counted under “refused (unknown case)”."),
    h("div", { class: "charts" }, sections.map(([title, data]) => h("div", { class: "chart-cell" }, barChart(title, rowsOf(data), opts), figuresTable(title.replace("Searches by ", "By "), data)))),
    h("h2", {}, "Anomalies"),
    anomalies.length
      ? h("ul", { id: "anomalies", class: "anomalies" }, anomalies.map((a) => anomalyItem(a, showActor)))
      : h("p", { id: "anomalies" }, "No anomaly found."),
  );
}
