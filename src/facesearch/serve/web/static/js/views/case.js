import { all, api, url } from "../api.js";
import { confirmDialog, field, formatTime, h, input, replace, table } from "../dom.js";
import { DECISION_WORDS, statusBadge, withButton } from "./common.js";
import { decisionControls } from "./cases.js";
import { authorisationSection } from "./authorisations.js";

/** One case: details, approval state, supervisors' actions, its searches and reviews, export. */
export async function caseView(app, [number]) {
  const root = h("section", {});
  async function render() {
    const c = await api("GET", `/cases/${encodeURIComponent(number)}`);
    const searches = await all(`/cases/${encodeURIComponent(number)}/searches`);
    replace(
      root,
      h("h1", {}, `Case ${c.number} `, statusBadge(c.status)),
      details(c),
      actions(app, c, render),
      authorisationSection(app, c),
      searchesSection(app, c, searches),
      reviewsSection(searches),
      exportSection(c),
    );
  }
  await render();
  return root;
}

function details(c) {
  const row = (label, value) => [h("dt", {}, label), h("dd", {}, value || "—")];
  const decided = c.decided_by
    ? `${c.status === "rejected" ? "Rejected" : "Approved"} by ${c.decided_by}, ${formatTime(c.decided_at)}${c.decision_note ? ` — “${c.decision_note}”` : ""}`
    : "Waiting for a supervisor";
  return h(
    "div",
    { class: "card" },
    h(
      "dl",
      { class: "details" },
      row("Purpose", c.purpose_name || c.purpose_key),
      row("Legal authority", c.legal_authority),
      row("Justification", c.justification),
      row("Requested", `${c.requested_by}, ${formatTime(c.requested_at)}`),
      row("Approval", decided),
      row("Assigned investigators", (c.assigned || []).join(", ")),
      c.closed_at ? row("Closed", `${c.closed_by}, ${formatTime(c.closed_at)} ${c.close_note || ""}`) : null,
    ),
  );
}

function actions(app, c, refresh) {
  const parts = [];
  if (app.has("investigator") && c.status === "open" && (c.assigned || []).includes(app.me.username)) {
    parts.push(h("a", { class: "button", href: `#/cases/${encodeURIComponent(c.number)}/search` }, "New search"));
  }
  if (app.has("investigator", "supervisor") && c.status !== "pending" && c.status !== "rejected") {
    parts.push(h("a", { class: "button secondary", href: `#/cases/${encodeURIComponent(c.number)}/media` }, "Media"));
  }
  if (app.has("supervisor")) {
    if (c.status === "pending") parts.push(decisionControls(app, c, refresh));
    if (c.status === "open") parts.push(assignForm(app, c, refresh), closeForm(app, c, refresh));
  }
  return parts.length ? h("div", { class: "actions" }, parts) : null;
}

function assignForm(app, c, refresh) {
  const who = input("username", { required: true, autocomplete: "off" });
  const assign = h("button", { type: "submit" }, "Assign");
  const unassign = h("button", { type: "button", class: "secondary" }, "Unassign");
  const send = (verb, button) =>
    withButton(app, button, async () => {
      await api("POST", `/cases/${encodeURIComponent(c.number)}/${verb}`, { json: { username: who.value.trim() } });
      app.flash(`${who.value.trim()} ${verb}ed.`);
      await refresh();
    });
  unassign.addEventListener("click", () => send("unassign", unassign));
  return h(
    "form",
    { class: "inline", on: { submit: (e) => { e.preventDefault(); send("assign", assign); } } },
    field("Investigator", who),
    assign,
    unassign,
  );
}

function closeForm(app, c, refresh) {
  const note = input("close_note");
  const close = h("button", { type: "submit", class: "danger" }, "Close the case");
  return h(
    "form",
    {
      class: "inline",
      on: {
        submit: async (e) => {
          e.preventDefault();
          if (!(await confirmDialog(`Close case ${c.number}? This cannot be undone.`, "Close the case", close))) return;
          withButton(app, close, async () => {
            await api("POST", `/cases/${encodeURIComponent(c.number)}/close`, { json: { note: note.value.trim() } });
            await refresh();
          });
        },
      },
    },
    field("Closing note", note),
    close,
  );
}

function reviewed(search) {
  return search.candidates.filter((x) => x.decision).length;
}

function searchesSection(app, c, searches) {
  const rows = searches.map((s) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: `#/searches/${s.search_id}` }, `Search ${s.search_id}`)),
      h("td", {}, formatTime(s.at)),
      h("td", {}, s.user),
      h("td", { class: "num" }, String(s.candidates.length)),
      h("td", { class: "num" }, `${reviewed(s)} / ${s.candidates.length}`),
      h("td", {}, s.results_purged_at ? `purged ${formatTime(s.results_purged_at)}` : ""),
    ),
  );
  return h(
    "section",
    {},
    h("h2", {}, "Searches"),
    rows.length
      ? table(["Search", "When", "By", { label: "Candidates", num: true }, { label: "Reviewed", num: true }, "Retention"], rows, "Searches")
      : h("p", { class: "muted" }, "No search yet."),
  );
}

function reviewsSection(searches) {
  const rows = [];
  for (const s of searches) {
    for (const cand of s.candidates) {
      for (const r of cand.reviews || []) {
        rows.push(
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: `#/searches/${s.search_id}?at=${cand.rank - 1}` }, `${s.search_id} #${cand.rank}`)),
            h("td", {}, DECISION_WORDS[r.decision] || r.decision),
            h("td", {}, r.reviewer),
            h("td", {}, formatTime(r.at)),
            h("td", {}, r.note || ""),
          ),
        );
      }
    }
  }
  return h(
    "section",
    {},
    h("h2", {}, "Reviews"),
    rows.length
      ? table(["Search / rank", "Decision", "Reviewer", "When", "Note"], rows, "Reviews")
      : h("p", { class: "muted" }, "No review yet."),
  );
}

function exportSection(c) {
  // the options are query parameters of the report (GET /cases/{number}/report)
  const all = h("input", { type: "checkbox", name: "all_candidates", id: "report-all-candidates" });
  const shielded = h("input", { type: "checkbox", name: "shielded", id: "report-shielded" });
  const href = (format) =>
    url(`/cases/${encodeURIComponent(c.number)}/report`, {
      format,
      all_candidates: all.checked ? "true" : "",
      shielded: shielded.checked ? "true" : "",
    });
  const links = [["html", "Export HTML"], ["pdf", "Export PDF"]].map(([format, label]) =>
    h("a", { class: "button secondary", href: href(format), download: `${c.number}.${format}`, dataset: { format } }, label),
  );
  const update = () => links.forEach((a) => a.setAttribute("href", href(a.dataset.format)));
  all.addEventListener("change", update);
  shielded.addEventListener("change", update);
  return h(
    "section",
    {},
    h("h2", {}, "Case report"),
    h("p", {}, "Chain of custody: probes and candidates pictured, model, thresholds, every search, the reviewed candidates with their provenance and reviews (the others counted). Each export is logged."),
    h("div", { class: "check" }, all, h("label", { for: all.id }, "List every candidate, not only those reviewed")),
    h("div", { class: "check" }, shielded, h("label", { for: shielded.id }, "Wellbeing: greyscale pictures, the probe blurred outside the searched face")),
    h("div", { class: "actions" }, ...links),
  );
}
