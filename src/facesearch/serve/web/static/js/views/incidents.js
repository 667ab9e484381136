// Incidents and the suspension of all searching: everyone can report an incident; the
// register is for administrators, auditors and supervisors; administrators suspend and resume
// searching, record to whom an incident was reported and close it.
import { api } from "../api.js";
import { confirmDialog, field, formatTime, h, input, replace, table } from "../dom.js";
import { withButton } from "./common.js";
import { showSuspension } from "../banner.js";

export async function incidentsView(app) {
  const isAdmin = app.has("administrator");
  const reads = app.has("administrator", "auditor", "supervisor");
  const stateBox = h("div", { id: "suspension-state" });
  const listBox = h("div", { id: "incidents" });

  async function refresh() {
    const state = await api("GET", "/suspension");
    replace(stateBox, suspensionCard(app, state, isAdmin, refresh));
    if (reads) {
      const items = await api("GET", "/incidents");
      replace(listBox, items.length ? incidentTable(app, items, isAdmin, refresh) : h("p", { class: "muted" }, "No incident recorded."));
    }
    await showSuspension(true);
  }
  await refresh();
  return h(
    "section",
    {},
    h("h1", {}, "Incidents"),
    h("p", {}, "A wrong identification acted on, a breach, a malfunction: record it here. Administrators can suspend all searching at once while it is examined."),
    h("h2", {}, "Searching"),
    stateBox,
    h("h2", {}, "Report an incident"),
    reportForm(app, refresh),
    reads ? [h("h2", {}, "Incident register"), listBox] : null,
  );
}

function suspensionCard(app, state, isAdmin, refresh) {
  if (state.suspended) {
    const s = state.suspension;
    const note = input("note", { required: true, id: "resume-note" });
    const resume = h("button", { type: "submit", id: "resume" }, "Resume searching");
    return h(
      "div",
      { class: "card" },
      h("p", { id: "suspension-words" }, `Suspended since ${formatTime(s.started_at)} by ${s.started_by}: ${s.reason}`),
      isAdmin
        ? h(
            "form",
            { class: "stack", on: { submit: (e) => { e.preventDefault(); withButton(app, resume, async () => {
              await api("POST", "/suspension/end", { json: { note: note.value.trim() } });
              app.flash("Searching resumed.");
              await refresh();
            }); } } },
            field("Why searching may resume", note),
            h("div", { class: "actions" }, resume),
          )
        : null,
    );
  }
  if (!isAdmin) return h("p", { id: "suspension-words" }, "Searching is running normally.");
  const reason = input("reason", { required: true, id: "suspend-reason" });
  const suspend = h("button", { type: "submit", class: "danger", id: "suspend" }, "Suspend all searching");
  return h(
    "form",
    { class: "card stack", on: { submit: async (e) => {
      e.preventDefault();
      if (!(await confirmDialog("Suspend every search, for every user, until an administrator resumes it?", "Suspend", suspend))) return;
      withButton(app, suspend, async () => {
        await api("POST", "/suspension", { json: { reason: reason.value.trim() } });
        app.flash("All searching is suspended.");
        await refresh();
      });
    } } },
    h("p", { id: "suspension-words" }, "Searching is running normally."),
    field("Reason (shown to every user)", reason),
    h("div", { class: "actions" }, suspend),
  );
}

function reportForm(app, refresh) {
  const title = input("title", { required: true, maxlength: 200, id: "incident-title" });
  const description = h("textarea", { name: "description", id: "incident-description", maxlength: 4000 });
  const serious = h("input", { type: "checkbox", name: "serious", id: "incident-serious" });
  const caseNumber = input("case", { id: "incident-case", maxlength: 100 });
  const when = input("occurred_at", { type: "datetime-local", id: "incident-when" });
  const submit = h("button", { type: "submit", id: "record-incident" }, "Record the incident");
  return h(
    "form",
    { class: "stack", id: "incident-form", on: { submit: (e) => {
      e.preventDefault();
      withButton(app, submit, async () => {
        const out = await api("POST", "/incidents", { json: {
          title: title.value.trim(),
          description: description.value.trim(),
          serious: serious.checked,
          case: caseNumber.value.trim() || null,
          occurred_at: when.value ? new Date(when.value).toISOString() : null,
        } });
        app.flash(`Incident ${out.id} recorded.`);
        e.target.reset();
        await refresh();
      });
    } } },
    field("What happened (a line)", title),
    field("Details", description),
    field("Case (if any)", caseNumber),
    field("When it happened", when),
    h("div", { class: "check" }, serious, h("label", { for: serious.id }, "Serious (to be reported to the authorities)")),
    h("div", { class: "actions" }, submit),
  );
}

function incidentTable(app, items, isAdmin, refresh) {
  return table(
    ["No.", "Incident", "Recorded", "Reported to", "Status", ""],
    items.map((i) =>
      h(
        "tr",
        { dataset: { incident: String(i.id) } },
        h("td", {}, String(i.id)),
        h("td", {}, h("strong", {}, i.title), i.serious ? " (serious)" : "", i.case ? ` — case ${i.case}` : "", i.description ? h("div", { class: "muted" }, i.description) : null),
        h("td", {}, `${formatTime(i.recorded_at)} by ${i.recorded_by}`),
        h("td", {}, i.reported_to ? `${i.reported_to}, ${formatTime(i.reported_at)}` : "—"),
        h("td", {}, i.closed_at ? `closed ${formatTime(i.closed_at)}: ${i.resolution}` : "open"),
        h("td", {}, isAdmin && !i.closed_at ? adminControls(app, i, refresh) : null),
      ),
    ),
    "Incidents",
  );
}

function adminControls(app, i, refresh) {
  const to = input("reported_to", { id: `reported-to-${i.id}` });
  const report = h("button", { type: "submit", class: "secondary" }, "Record as reported");
  const resolution = input("resolution", { id: `resolution-${i.id}` });
  const close = h("button", { type: "submit", class: "secondary" }, "Close");
  return h(
    "div",
    { class: "stack" },
    i.reported_to
      ? null
      : h("form", { on: { submit: (e) => { e.preventDefault(); withButton(app, report, async () => {
          await api("POST", `/incidents/${i.id}/reported`, { json: { reported_to: to.value.trim() } });
          await refresh();
        }); } } }, field("Reported to", to), report),
    h("form", { on: { submit: (e) => { e.preventDefault(); withButton(app, close, async () => {
      await api("POST", `/incidents/${i.id}/close`, { json: { resolution: resolution.value.trim() } });
      app.flash(`Incident ${i.id} closed.`);
      await refresh();
    }); } } }, field("Resolution", resolution), close),
  );
}
