// Jurisdiction profiles: what the policy's profile requires and what is not met yet (policy
// page), users' training records with those expiring (users page, administrators) and each
// collection's lawful basis (collections page, administrators). See docs/compliance.md.
import { api } from "../api.js";
import { field, formatTime, h, input, replace, table } from "../dom.js";
import { errorBox, withButton } from "./common.js";

const STATE = { true: "met", false: "not met", null: "agency's job" };

/** The profile's requirements, each met or not here and what to do (administrators,
 * supervisors, auditors); also used for a checked policy text (``profile`` of /policy/validate). */
export function requirementsTable(p) {
  return h(
    "div",
    { class: "profile-reqs" },
    h("p", {}, `Profile: ${p.title} (${p.profile}). `, p.unmet ? h("strong", {}, `${p.unmet} requirement(s) not met yet.`) : "Every checked requirement is met."),
    p.requirements.length
      ? table(["Requirement", "Rule", "What facesearch does", "State", "To do"], p.requirements.map((r) =>
          h("tr", { dataset: { req: r.id }, class: `req-${STATE[r.met].replaceAll(" ", "-").replace("'", "")}` },
            h("td", {}, r.id), h("td", {}, r.rule), h("td", {}, r.does || "-"), h("td", {}, STATE[r.met]), h("td", {}, r.met === false ? r.todo : "")),
        ), "Requirements of the jurisdiction profile")
      : h("p", { class: "muted" }, "No requirement beyond the policy."),
  );
}

export function requirementsSection(app) {
  const box = h("div", { id: "profile-requirements" });
  if (!app.has("administrator", "supervisor", "auditor")) return null;
  api("GET", "/policy/requirements").then((p) => replace(box, requirementsTable(p)), (err) => replace(box, errorBox(err)));
  return h("section", {}, h("h2", {}, "Jurisdiction profile"), box);
}

function trainingLine(t) {
  return h("tr", { dataset: { training: String(t.id) } },
    h("td", {}, t.username), h("td", {}, t.course), h("td", {}, t.completed_on), h("td", {}, t.expires_on || "no expiry"), h("td", {}, t.current ? "current" : "not current"));
}

/** Administrators: record a user's training; trainings expired or expiring within 30 days. */
export function trainingsSection(app) {
  const expiring = h("div", { id: "trainings-expiring" });
  const recorded = h("div", { "aria-live": "polite" });
  const heads = ["User", "Course", "Completed", "Expires", "State"];
  async function refresh() {
    const items = await api("GET", "/trainings/expiring");
    replace(expiring, items.length ? table(heads, items.map(trainingLine), "Trainings expiring within 30 days") : h("p", { class: "muted" }, "No training expires within 30 days."));
  }
  refresh().catch((err) => replace(expiring, errorBox(err)));
  const user = input("training_user", { required: true, autocomplete: "off" });
  const course = input("course", { required: true, maxlength: 200 });
  const done = input("completed_on", { type: "date", required: true });
  const until = input("expires_on", { type: "date" });
  const add = h("button", { type: "submit" }, "Record the training");
  const form = h(
    "form",
    { class: "stack", id: "add-training", on: { submit: (e) => { e.preventDefault(); withButton(app, add, async () => {
      const name = user.value.trim();
      await api("POST", `/users/${encodeURIComponent(name)}/trainings`, { json: { course: course.value.trim(), completed_on: done.value, expires_on: until.value || null } });
      const mine = await api("GET", `/users/${encodeURIComponent(name)}/trainings`);
      replace(recorded, table(heads, mine.map(trainingLine), `Trainings of ${name}`));
      app.flash(`Training recorded for ${name}.`);
      e.target.reset();
      await refresh();
    }); } } },
    field("Trained user (user name)", user),
    field("Course", course),
    field("Completed on", done),
    field("Expires on", until, "Leave empty when it does not expire."),
    h("div", { class: "actions" }, add),
  );
  return h("section", { id: "trainings" }, h("h2", {}, "Trainings"), h("p", { class: "muted" }, "Where the policy's profile requires it, reviews and verifications need a current training."), form, recorded, h("h3", {}, "Expiring"), expiring);
}

/** Administrators: each collection's legal basis, source attestation, DPIA/PIA and retention
 * rule, and whether its faces are searchable under the profile (one card per collection). */
export function basisSection(app) {
  const box = h("div", { id: "collection-bases", class: "basis-list" });
  async function refresh() {
    const items = await api("GET", "/collection-bases");
    replace(box, items.length ? items.map((b) => basisCard(app, b, refresh)) : h("p", { class: "muted" }, "No collection yet."));
  }
  refresh().catch((err) => replace(box, errorBox(err)));
  return h("section", { "aria-labelledby": "bases-title" }, h("h2", { id: "bases-title" }, "Lawful basis of the collections"), box);
}

function basisCard(app, b, refresh) {
  const key = b.collection.replace(/[^A-Za-z0-9_-]/g, "_");
  const legal = input("legal_basis", { value: b.legal_basis, required: true, id: `basis-${key}-legal` });
  const source = input("source_attestation", { value: b.source_attestation, id: `basis-${key}-source` });
  const dpia = input("dpia_reference", { value: b.dpia_reference, id: `basis-${key}-dpia`, maxlength: 200 });
  const retention = input("retention_rule", { value: b.retention_rule, id: `basis-${key}-retention`, placeholder: "keep, 365 days, not-convicted-purge" });
  const save = h("button", { type: "submit", "aria-label": `Record the basis of ${b.collection}` }, "Record");
  const form = h(
    "form",
    { class: "basis-form", on: { submit: (e) => { e.preventDefault(); withButton(app, save, async () => {
      await api("PUT", `/collections/${encodeURIComponent(b.collection)}/basis`, { json: { legal_basis: legal.value.trim(), source_attestation: source.value.trim(), dpia_reference: dpia.value.trim(), retention_rule: retention.value.trim() } });
      app.flash(`Basis of ${b.collection} recorded.`);
      await refresh();
    }); } } },
    field("Legal basis", legal), field("Source attestation", source), field("DPIA/PIA reference", dpia), field("Retention rule", retention),
    h("div", { class: "actions" }, save),
  );
  const state = b.searchable ? "yes" : `no: missing ${b.missing.map((m) => m.replaceAll("_", " ")).join(", ")}`;
  return h(
    "article",
    { class: "card", dataset: { collection: b.collection } },
    h("h3", {}, b.collection),
    h(
      "dl",
      { class: "details" },
      h("dt", {}, "Legal basis"), h("dd", {}, b.legal_basis || "-"),
      h("dt", {}, "Source attestation"), h("dd", {}, b.source_attestation || "-"),
      h("dt", {}, "DPIA/PIA"), h("dd", {}, b.dpia_reference || "-"),
      h("dt", {}, "Retention"), h("dd", {}, b.retention_rule || "keep"),
      h("dt", {}, "Searchable"), h("dd", { class: b.searchable ? "" : "not-searchable" }, state),
      b.recorded ? [h("dt", {}, "Recorded"), h("dd", {}, `${formatTime(b.recorded_at)} by ${b.recorded_by}`)] : null,
    ),
    h("details", {}, h("summary", {}, b.recorded ? "Change the basis" : "Record a basis"), form),
  );
}

const PROFILES = ["custom", "eu-ai-act", "canada", "uk", "us-washington", "us-montana"];

/** A choice of jurisdiction profile that writes `[profile] name` into the policy text being
 * checked (the section is added when the text has none). */
export function profilePicker(area) {
  const current = (area.value.match(/^\[profile\][\s\S]*?^name\s*=\s*"([^"]*)"/m) || [])[1] || "custom";
  const pick = h("select", { name: "profile", id: "profile-pick" }, PROFILES.map((p) => h("option", { value: p, selected: p === current }, p)));
  pick.addEventListener("change", () => {
    const re = /(^\[profile\][\s\S]*?^name\s*=\s*)"[^"]*"/m;
    area.value = re.test(area.value) ? area.value.replace(re, `$1"${pick.value}"`) : `${area.value.trimEnd()}\n\n[profile]\nname = "${pick.value}"\n`;
  });
  return field("Jurisdiction profile", pick, "Writes [profile] name into the text below; check it to see what the profile requires.");
}
