import { all, api } from "../api.js";
import { field, formatTime, h, input, replace, select, table } from "../dom.js";
import { DECISION_WORDS, errorBox, statusBadge, withButton } from "./common.js";
import { overridesSection } from "./overrides.js";
import { deadlinesSection } from "./authorisations.js";

function caseRows(cases, extra) {
  return cases.map((c) =>
    h(
      "tr",
      {},
      h("td", {}, h("a", { href: `#/cases/${encodeURIComponent(c.number)}` }, c.number)),
      h("td", {}, statusBadge(c.status)),
      h("td", {}, c.purpose_name || c.purpose_key),
      h("td", {}, c.requested_by),
      h("td", {}, formatTime(c.requested_at)),
      h("td", { class: "num" }, String(c.searches ?? 0)),
      extra ? h("td", {}, extra(c)) : null,
    ),
  );
}

const HEADERS = ["Case", "State", "Purpose", "Requested by", "Requested", { label: "Searches", num: true }];

/** The cases this user may read, a status filter, and (investigators) a form to open one. */
export async function casesView(app, _params, query) {
  const status = query.get("status") || "";
  const cases = await all("/cases", { status });
  const filter = select(
    "status",
    [["", "all"], ["pending", "pending approval"], ["open", "open"], ["rejected", "rejected"], ["closed", "closed"]],
    { value: status },
  );
  filter.value = status;
  filter.addEventListener("change", () => app.go(filter.value ? `#/cases?status=${filter.value}` : "#/cases"));
  return h(
    "section",
    {},
    h("h1", {}, "Cases"),
    h("form", { class: "inline", on: { submit: (e) => e.preventDefault() } }, field("Show", filter)),
    cases.length
      ? table(HEADERS, caseRows(cases), "Cases")
      : h("p", { class: "muted" }, "No cases to show."),
    app.has("investigator") ? await newCaseForm(app) : null,
  );
}

async function newCaseForm(app) {
  const policy = await api("GET", "/policy");
  const number = input("number", { required: true, autocomplete: "off" });
  const purpose = select("purpose", policy.purposes.map((p) => [p.key, p.name]), { required: true });
  const authority = input("legal_authority", { required: true });
  const justification = h("textarea", { name: "justification", required: true });
  const submit = h("button", { type: "submit" }, "Request the case");
  const form = h(
    "form",
    { class: "stack", id: "new-case", on: { submit: onSubmit } },
    field("Case number", number),
    field("Purpose", purpose, "Only the purposes the policy allows."),
    field("Legal authority", authority, "The order, warrant or statute that allows the search."),
    field("Justification", justification, "Why a face search is needed and proportionate."),
    h("div", { class: "actions" }, submit),
  );
  async function onSubmit(event) {
    event.preventDefault();
    await withButton(app, submit, async () => {
      const created = await api("POST", "/cases", {
        json: {
          number: number.value.trim(),
          purpose: purpose.value,
          legal_authority: authority.value.trim(),
          justification: justification.value.trim(),
        },
      });
      app.go(`#/cases/${encodeURIComponent(created.number)}`);
      app.flash(`Case ${created.number} requested: ${created.status}.`);
    });
  }
  return h("section", {}, h("h2", {}, "Open a case"), form);
}

/** A resubmitted case says so in the queue, with the rejection it answers. */
function resubmitted(c) {
  const last = c.last_rejection;
  if (!c.resubmissions || !last) return null;
  return h(
    "p",
    { class: "resubmitted" },
    `Resubmitted after a rejection by ${last.by}, ${formatTime(last.at)}`,
    last.note ? ` — “${last.note}”` : "",
  );
}

/** Supervisors: the cases waiting for a decision, approved or rejected from here; and the
 * identifications of the open cases that need a supervisor (disputed, awaiting verification). */
export async function approvalsView(app) {
  const cases = await all("/cases", { status: "pending" });
  const body = h("div", {});
  const render = (list) =>
    replace(
      body,
      list.length
        ? table(
          [...HEADERS, "Decision"],
          caseRows(list, (c) => [resubmitted(c), decisionControls(app, c, () => refresh())]),
          "Pending cases",
        )
        : h("p", { class: "muted" }, "No case is waiting for approval."),
    );
  async function refresh() {
    render(await all("/cases", { status: "pending" }));
    await app.refreshBadge();
  }
  render(cases);
  return h(
    "section",
    {},
    h("h1", {}, "Approval queue"),
    h("p", {}, "Cases waiting for a supervisor's decision. You cannot approve a case you requested."),
    body,
    await identificationsSection(),
    overridesSection(app),
    deadlinesSection(),
  );
}

const VERDICT_WORDS = { confirm: "confirms", reject: "rejects", inconclusive: "inconclusive" };
const IDENT_HEADERS = ["Case", "Candidate", "Searched", "Reviews", "Verifications", "Your turn"];

/** The possible matches across the open cases that a supervisor must see: the disputed ones
 * (a verifier rejected them) and those still awaiting verification. */
async function identificationsSection() {
  let found;
  try {
    found = await api("GET", "/identifications"); // one read (one audit entry) for both lists
  } catch (err) {
    return h("section", {}, h("h2", {}, "Identifications to resolve"), errorBox(err));
  }
  const disputed = found.filter((i) => i.status === "disputed");
  const waiting = found.filter((i) => i.status === "possible_match");
  const rows = (list) =>
    list.map((i) =>
      h(
        "tr",
        {},
        h("td", {}, h("a", { href: `#/cases/${encodeURIComponent(i.case)}` }, i.case)),
        h("td", {}, h("a", { href: `#/searches/${i.search_id}?at=${i.rank - 1}` }, `Search ${i.search_id}, rank ${i.rank}`)),
        h("td", {}, `${i.searcher}, ${formatTime(i.searched_at)}`),
        h("td", {}, (i.reviews || []).map((r) => DECISION_WORDS[r.decision] || r.decision).join(", ")),
        h(
          "td",
          {},
          (i.verifications || []).map((v) => `${v.verifier} ${VERDICT_WORDS[v.verdict] || v.verdict}`).join(", ") ||
            (i.verifications_hidden ? `${i.verifications_hidden} hidden until you verify` : "none yet"),
        ),
        h("td", {}, i.awaiting_verification ? "awaiting your verification" : ""),
      ),
    );
  const part = (title, id, list, empty) =>
    h(
      "section",
      { id },
      h("h3", {}, `${title} (${list.length})`),
      list.length ? table(IDENT_HEADERS, rows(list), title) : h("p", { class: "muted" }, empty),
    );
  return h(
    "section",
    { class: "identifications" },
    h("h2", {}, "Identifications to resolve"),
    h("p", {}, "Possible matches of the open cases: a disputed one (an examiner rejected it) needs a supervisor's examination; the others wait for an independent verification."),
    part("Disputed", "disputed", disputed, "No disputed identification."),
    part("Awaiting verification", "awaiting", waiting, "No possible match is waiting for verification."),
  );
}

/** Approve / reject controls for one pending case (a note is required to reject). */
export function decisionControls(app, c, done) {
  if (c.requested_by === app.me.username) {
    return h("span", { class: "muted" }, "Requested by you: another supervisor decides.");
  }
  const note = input("note", { "aria-label": `Note on case ${c.number}`, placeholder: "note" });
  const approve = h("button", { type: "button" }, "Approve");
  const reject = h("button", { type: "button", class: "danger" }, "Reject");
  const decide = (verb, button) =>
    withButton(app, button, async () => {
      if (verb === "reject" && !note.value.trim()) throw new Error("A rejection needs a note saying why.");
      const out = await api("POST", `/cases/${encodeURIComponent(c.number)}/${verb}`, { json: { note: note.value.trim() } });
      app.flash(`Case ${out.number}: ${out.status}.`);
      await done(out);
    });
  approve.setAttribute("aria-label", `Approve case ${c.number}`);
  reject.setAttribute("aria-label", `Reject case ${c.number}`);
  approve.addEventListener("click", () => decide("approve", approve));
  reject.addEventListener("click", () => decide("reject", reject));
  return h("div", { class: "actions" }, note, approve, reject);
}
