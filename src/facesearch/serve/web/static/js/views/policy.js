import { api } from "../api.js";
import { field, formatTime, h, replace, table } from "../dom.js";
import { withButton } from "./common.js";

/** The policy in force, the changed policy waiting for two administrators (if any), and
 * (administrators, supervisors, auditors) a check of a new text. */
export async function policyView(app) {
  const policy = await api("GET", "/policy");
  const purposes = table(
    ["Key", "Purpose", "Needs approval"],
    policy.purposes.map((p) => h("tr", {}, h("td", {}, p.key), h("td", {}, p.name), h("td", {}, p.requires_approval ? "yes" : "no"))),
    "Purposes",
  );
  const settings = (title, obj) =>
    h("div", { class: "card" }, h("h3", {}, title), h("dl", { class: "details" }, Object.entries(obj || {}).map(([k, v]) => [h("dt", {}, k.replaceAll("_", " ")), h("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))])));
  return h(
    "section",
    {},
    h("h1", {}, "Policy"),
    h("p", { class: "muted" }, `Source ${policy.source}; SHA-256 ${policy.sha256}`),
    policy.pending ? pendingBox(app, policy.pending) : null,
    h("h2", {}, "Purposes"),
    purposes,
    h("div", { class: "charts" }, settings("Search", policy.search), settings("Retention", policy.retention), settings("Sessions", policy.session)),
    h("h2", {}, "Policy file"),
    h("pre", { class: "card", tabindex: "0", "aria-label": "Policy text" }, policy.text),
    app.has("administrator", "supervisor", "auditor") ? checkForm(app, policy.text) : null,
  );
}

/** A changed policy recorded as pending: its hash, who recorded it and when, the approvals so
 * far; administrators other than the one who endorsed it may approve it here. */
function pendingBox(app, p) {
  const approvals = p.approvals.length ? `${p.approvals.length} of ${p.approvals_needed} (${p.approvals.join(", ")})` : `none of ${p.approvals_needed}`;
  const own = p.approvals.includes(app.me.username);
  let approve = null;
  if (app.has("administrator") && !own) {
    approve = h("button", { type: "button", class: "secondary" }, "Approve this policy");
    approve.addEventListener("click", () => withButton(app, approve, async () => {
      const out = await api("POST", `/changes/${p.change_id}/approve`, { json: {} });
      app.go("#/policy");
      app.flash(out.message);
    }));
  }
  return h(
    "section",
    { class: "card", "aria-labelledby": "pending-policy" },
    h("h2", { id: "pending-policy" }, "Pending policy"),
    h("p", {}, `A changed policy is waiting for two administrators (change ${p.change_id}); the policy below stays in force until then.`),
    h(
      "dl",
      { class: "details" },
      h("dt", {}, "SHA-256"), h("dd", {}, p.sha256),
      h("dt", {}, "Source"), h("dd", {}, p.source),
      h("dt", {}, "Recorded by"), h("dd", {}, p.first_used_by ? `${p.recorded_by} (first used by ${p.first_used_by})` : p.recorded_by),
      h("dt", {}, "Recorded"), h("dd", {}, formatTime(p.recorded_at)),
      h("dt", {}, "Approvals so far"), h("dd", {}, approvals),
    ),
    h("details", {}, h("summary", {}, "Its text"), h("pre", { tabindex: "0", "aria-label": "Pending policy text" }, p.text)),
    approve ? h("div", { class: "actions" }, approve) : null,
  );
}

function checkForm(app, text) {
  const area = h("textarea", { name: "policy_text", rows: "12", value: text });
  const out = h("div", { role: "status", "aria-live": "polite" });
  const check = h("button", { type: "submit" }, "Check this policy");
  const form = h(
    "form",
    { class: "stack", on: { submit: (e) => { e.preventDefault(); withButton(app, check, async () => {
      const res = await api("POST", "/policy/validate", { json: { text: area.value } });
      replace(
        out,
        res.valid
          ? h("p", { class: "chain-ok" }, `Valid (SHA-256 ${res.sha256}). Install it as policy.toml in the data directory to put it in force.`)
          : h("div", { class: "error-box" }, h("p", {}, "Not valid:"), h("ul", {}, res.problems.map((p) => h("li", {}, `${p.field}: ${p.message}`)))),
      );
    }); } } },
    field("Policy text (TOML)", area),
    h("div", { class: "actions" }, check),
    out,
  );
  return h("section", {}, h("h2", {}, "Check a new policy"), form);
}
