// Standing queries and their alerts: the Alerts page (new candidates a later ingest brought to
// a case's standing query, each opening the search it was recorded as), the queries of the
// cases the user reads (renew: supervisors; end: owner or supervisor), the nav badge, and the
// "Keep searching as the gallery grows" form of a results page.
import { api } from "../api.js";
import { confirmDialog, field, formatTime, h, input, replace, table } from "../dom.js";
import { withButton } from "./common.js";

/** Put the number of new alerts on the "Alerts" link of the navigation (investigators and
 * supervisors), quietly: a failure leaves the plain label. */
export async function refreshAlertBadge(app) {
  const link = document.querySelector('#nav a[href="#/alerts"]');
  if (!link || !app.has("investigator", "supervisor")) return;
  try {
    const found = await api("GET", "/alerts");
    link.textContent = found.length ? `Alerts (${found.length})` : "Alerts";
    link.setAttribute("aria-label", found.length ? `Alerts: ${found.length} new` : "Alerts: none new");
  } catch {
    link.textContent = "Alerts";
  }
}

export async function alertsView(app, _params, query) {
  const showAll = query.get("all") === "1";
  const [alerts, queries] = await Promise.all([api("GET", "/alerts", { query: { all: showAll ? "true" : "" } }), api("GET", "/standing-queries")]);
  const list = alerts.length
    ? table(
        ["Alert", "Case", "Standing query", "Candidates", "Raised", "Seen", ""],
        alerts.map((a) =>
          h(
            "tr",
            { dataset: { alert: String(a.id) }, class: a.seen_at ? null : "new" },
            h("td", {}, `#${a.id}`),
            h("td", {}, h("a", { href: `#/cases/${encodeURIComponent(a.case)}` }, a.case)),
            h("td", {}, `${a.objective} (query ${a.query_id})`),
            h("td", { class: "num" }, `${a.candidates}, best ${a.best_score.toFixed(3)}`),
            h("td", {}, formatTime(a.at)),
            h("td", {}, a.seen_at ? `${a.seen_by}, ${formatTime(a.seen_at)}` : "new"),
            h("td", {}, openButton(app, a)),
          ),
        ),
        "Alerts",
      )
    : h("p", { class: "muted", id: "no-alerts" }, showAll ? "No alert yet." : "No new alert.");
  return h(
    "section",
    {},
    h("h1", {}, "Alerts"),
    h("p", {}, "A standing query keeps a search's probe face searching: every ingest compares the faces it adds with it, and new candidates at or above the possible band raise an alert here. Each alert is a search of its case: review it like any other."),
    h("p", {}, h("a", { href: showAll ? "#/alerts" : "#/alerts?all=1" }, showAll ? "Show new alerts only" : "Show seen alerts too")),
    list,
    h("h2", {}, "Standing queries"),
    queries.length ? queriesTable(app, queries) : h("p", { class: "muted" }, "No standing query. Start one from a search's results page."),
  );
}

function openButton(app, a) {
  const button = h("button", { type: "button", class: "secondary" }, `Open search ${a.search_id}`);
  button.addEventListener("click", () => withButton(app, button, async () => {
    if (!a.seen_at) await api("POST", `/alerts/${a.id}/seen`);
    app.go(`#/searches/${a.search_id}`);
  }));
  return button;
}

function queriesTable(app, queries) {
  return table(
    ["Query", "Case", "Objective", "Owner", "Status", "Alerts", ""],
    queries.map((q) =>
      h(
        "tr",
        { dataset: { query: String(q.id) } },
        h("td", {}, `#${q.id}`),
        h("td", {}, h("a", { href: `#/cases/${encodeURIComponent(q.case)}` }, q.case)),
        h("td", {}, q.objective, h("div", { class: "muted" }, h("a", { href: `#/searches/${q.search_id}` }, `from search ${q.search_id}`))),
        h("td", {}, q.owner),
        h("td", {}, q.status === "active" ? `active until ${formatTime(q.expires_at)}; review ${formatTime(q.review_at)}` : `${q.status} ${formatTime(q.ended_at)}: ${q.end_note}`),
        h("td", { class: "num" }, String(q.alerts)),
        h("td", {}, q.status === "active" ? queryActions(app, q) : null),
      ),
    ),
    "Standing queries",
  );
}

function queryActions(app, q) {
  const out = [];
  if (app.has("supervisor")) {
    const renew = h("button", { type: "button", class: "secondary" }, "Renew");
    renew.addEventListener("click", () => withButton(app, renew, async () => {
      const r = await api("POST", `/standing-queries/${q.id}/renew`, { json: {} });
      app.flash(`Standing query ${q.id} renewed until ${formatTime(r.expires_at)}.`);
      app.go("#/alerts");
    }));
    out.push(renew);
  }
  if (app.has("supervisor") || q.owner === app.me.username) {
    const end = h("button", { type: "button", class: "danger" }, "End");
    end.addEventListener("click", async () => {
      if (!(await confirmDialog(`End standing query ${q.id}? Its kept probe and vectors are deleted.`, "End it", end))) return;
      withButton(app, end, async () => {
        await api("POST", `/standing-queries/${q.id}/end`, { json: { note: "ended from the web app" } });
        app.flash(`Standing query ${q.id} ended.`);
        app.go("#/alerts");
      });
    });
    out.push(" ", end);
  }
  return out;
}

/** The results page's form: keep this (one-photo) search's probe face searching every later
 * ingest, with an objective; shown to the case's investigators. */
export function standingForm(app, search) {
  // a one-photo search, or a media person's (its cluster): not several photos
  const person = search.cluster !== null && search.cluster !== undefined;
  if (!app.has("investigator") || (search.multi_probe && !person) || search.results_purged_at) return null;
  const objective = input("objective", { id: "standing-objective", required: true, maxlength: 2000, placeholder: "e.g. identify the child in series 4" });
  const submit = h("button", { type: "submit", class: "secondary", id: "standing-start" }, "Keep searching");
  const form = h(
    "form",
    { class: "stack standing-form", id: "standing-form" },
    h("p", { class: "muted" }, "Keep searching for this face as the gallery grows: every later ingest is compared with it, and new candidates raise an alert (the policy caps how long)."),
    field("Objective", objective),
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    withButton(app, submit, async () => {
      const q = await api("POST", "/standing-queries", { json: { search_id: search.search_id, objective: objective.value.trim() } });
      app.flash(`Standing query ${q.id} started: searching until ${formatTime(q.expires_at)}.`);
      replace(form, h("p", { id: "standing-started" }, `Standing query ${q.id} keeps searching until ${formatTime(q.expires_at)}.`));
    });
  });
  return h("details", { class: "standing" }, h("summary", {}, "Keep searching as the gallery grows"), form);
}
