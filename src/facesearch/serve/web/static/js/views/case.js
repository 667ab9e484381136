import { all, api, url } from "../api.js";
import { confirmDialog, field, formatTime, h, input, replace, select, table } from "../dom.js";
import { DECISION_WORDS, EVENT_WORDS, FIELD_WORDS, statusBadge, withButton } from "./common.js";
import { decisionControls } from "./cases.js";
import { outcomesSection } from "./reports.js";
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
      await resubmitSection(app, c, render),
      authorisationSection(app, c),
      searchesSection(app, c, searches),
      reviewsSection(searches),
      historySection(c),
      outcomesSection(app, c),
      exportSection(c),
    );
  }
  await render();
  return root;
}

function details(c) {
  const row = (label, value) => [h("dt", {}, label), h("dd", {}, value || "—")];
  const last = c.last_rejection;
  const decided = c.decided_by
    ? `${c.status === "rejected" ? "Rejected" : "Approved"} by ${c.decided_by}, ${formatTime(c.decided_at)}${c.decision_note ? ` — “${c.decision_note}”` : ""}`
    : c.status === "pending" && c.resubmissions && last
      ? `Waiting for a supervisor: resubmitted after a rejection by ${last.by}, ${formatTime(last.at)}${last.note ? ` — “${last.note}”` : ""}`
      : c.status === "open" || c.status === "closed"
        ? "Not needed for this purpose"
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
    if (c.status === "pending") parts.push(decisionControls(app, c, async () => { await refresh(); await app.refreshBadge(); }));
    if (c.status === "open") parts.push(assignForm(app, c, refresh), closeForm(app, c, refresh));
  }
  return parts.length ? h("div", { class: "actions" }, parts) : null;
}

/** Assign an investigator picked from the active investigators not yet on the case (the
 * server's list: GET /cases/{number}/assignable), or unassign one of those assigned. */
function assignForm(app, c, refresh) {
  const number = encodeURIComponent(c.number);
  const who = h("select", { name: "username", required: true, id: "assign-who" }, h("option", { value: "" }, "Loading…"));
  const assign = h("button", { type: "submit" }, "Assign");
  const assigned = c.assigned || [];
  const gone = select("unassign", assigned.map((u) => [u, u]), { id: "unassign-who" });
  const unassign = h("button", { type: "button", class: "secondary" }, "Unassign");
  api("GET", `/cases/${number}/assignable`).then(
    (people) => {
      replace(
        who,
        h("option", { value: "" }, people.length ? "Choose an investigator" : "No other active investigator"),
        people.map((u) => h("option", { value: u.username }, u.display_name ? `${u.display_name} (${u.username})` : u.username)),
      );
    },
    (err) => replace(who, h("option", { value: "" }, `Not available: ${err.message}`)),
  );
  const send = (verb, button, username) =>
    withButton(app, button, async () => {
      if (!username) throw new Error(verb === "assign" ? "Choose an investigator to assign." : "Choose an investigator to unassign.");
      await api("POST", `/cases/${number}/${verb}`, { json: { username } });
      await refresh();
      app.flash(`${username} ${verb}ed.`);
    });
  unassign.addEventListener("click", () => send("unassign", unassign, gone.value));
  return h(
    "div",
    { class: "assign-forms" },
    h(
      "form",
      { class: "inline", id: "assign-form", on: { submit: (e) => { e.preventDefault(); send("assign", assign, who.value); } } },
      field("Investigator to assign", who),
      assign,
    ),
    assigned.length
      ? h(
        "form",
        { class: "inline", id: "unassign-form", on: { submit: (e) => { e.preventDefault(); send("unassign", unassign, gone.value); } } },
        field("Assigned investigator", gone),
        unassign,
      )
      : null,
  );
}

/** The requester of a rejected case amends it and submits it for approval again. */
async function resubmitSection(app, c, refresh) {
  if (c.status !== "rejected" || c.requested_by !== app.me.username) return null;
  const policy = await api("GET", "/policy");
  const purpose = select("purpose", policy.purposes.map((p) => [p.key, p.name]), { required: true });
  purpose.value = c.purpose_key;
  const authority = input("legal_authority", { required: true, value: c.legal_authority });
  const justification = h("textarea", { name: "justification", required: true });
  justification.value = c.justification;
  const note = h("textarea", { name: "note" });
  const submit = h("button", { type: "submit" }, "Resubmit for approval");
  const form = h(
    "form",
    {
      class: "stack",
      id: "resubmit",
      on: {
        submit: (event) => {
          event.preventDefault();
          withButton(app, submit, async () => {
            const out = await api("POST", `/cases/${encodeURIComponent(c.number)}/resubmit`, {
              json: {
                purpose: purpose.value,
                legal_authority: authority.value.trim(),
                justification: justification.value.trim(),
                note: note.value.trim(),
              },
            });
            await refresh();
            app.flash(`Case ${out.number} resubmitted: pending approval.`);
          });
        },
      },
    },
    field("Purpose", purpose, "Only the purposes the policy allows."),
    field("Legal authority", authority, "The order, warrant or statute that allows the search."),
    field("Justification", justification, "Why a face search is needed and proportionate."),
    field("Answer to the rejection", note, "What you changed, or why the request stands (kept in the case's history)."),
    h("div", { class: "actions" }, submit),
  );
  return h(
    "section",
    { class: "resubmit" },
    h("h2", {}, "Amend and resubmit"),
    h("p", {}, `Rejected${c.decided_by ? ` by ${c.decided_by}` : ""}${c.decision_note ? `: “${c.decision_note}”` : ""}. Amend the request and submit it again: it goes back to the supervisors' approval queue.`),
    form,
  );
}

/** Every act on the case, from the audit log: request, decisions with their reasons,
 * amendments (each field before and after), resubmissions, assignments, closing. */
function historySection(c) {
  const rows = (c.history || []).map((e) =>
    h(
      "tr",
      {},
      h("td", {}, formatTime(e.at)),
      h("td", {}, EVENT_WORDS[e.event] || e.event, e.user ? `: ${e.user}` : ""),
      h("td", {}, e.actor),
      h(
        "td",
        {},
        e.note ? h("span", { class: "note" }, `“${e.note}”`) : null,
        (e.changes || []).length
          ? h("ul", { class: "changes" }, e.changes.map((x) => h("li", {}, `${FIELD_WORDS[x.field] || x.field}: “${x.before}” → “${x.after}”`)))
          : null,
      ),
    ),
  );
  return h(
    "section",
    { class: "case-history" },
    h("h2", {}, "History"),
    rows.length ? table(["When", "What", "By", "Reason, note or change"], rows, "History") : h("p", { class: "muted" }, "No history recorded."),
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
