import { api } from "../api.js";
import { field, formatTime, h, replace, table } from "../dom.js";
import { withButton } from "./common.js";
import { profilePicker, requirementsSection, requirementsTable } from "./profiles.js";

/** The policy in force (its hash, since when, who put it in force), the changed policy waiting
 * for two administrators (if any, with a diff against the one in force), and (administrators,
 * supervisors, auditors) a check of a new text; administrators may then ask to put the checked
 * text in force: a second administrator approves it here, and it is in force at once. */
export async function policyView(app) {
  const [policy, inForce] = await Promise.all([api("GET", "/policy"), api("GET", "/policy/in-force")]);
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
    h(
      "dl",
      { class: "details", id: "policy-in-force" },
      h("dt", {}, "In force since"), h("dd", {}, inForce.since ? `${formatTime(inForce.since)} (put in force by ${inForce.activated_by})` : "-"),
      h("dt", {}, "SHA-256"), h("dd", { class: "hash" }, policy.sha256),
      h("dt", {}, "Source"), h("dd", {}, policy.source),
    ),
    policy.pending ? pendingBox(app, policy.pending, inForce.diff) : null,
    requirementsSection(app),
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
function pendingBox(app, p, diff) {
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
  let reject = null;
  if (app.has("administrator")) {
    const label = own ? "Withdraw this policy" : "Reject this policy";
    reject = h("button", { type: "button", class: "danger" }, label);
    reject.addEventListener("click", () => withButton(app, reject, async () => {
      const out = await api("POST", `/changes/${p.change_id}/reject`, { json: {} });
      app.go("#/policy");
      app.flash(out.message);
    }));
  }
  return h(
    "section",
    { class: "card", "aria-labelledby": "pending-policy" },
    h("h2", { id: "pending-policy" }, "Pending policy"),
    h("p", {}, p.recorded_by === "system"
      ? `A changed policy file is waiting for two administrators (change ${p.change_id}); the policy below stays in force until then.`
      : `${p.recorded_by} asks to put this policy in force (change ${p.change_id}); it takes effect when a second administrator approves it. The policy below stays in force until then.`),
    h(
      "dl",
      { class: "details" },
      h("dt", {}, "SHA-256"), h("dd", {}, p.sha256),
      h("dt", {}, "Source"), h("dd", {}, p.source),
      h("dt", {}, "Recorded by"), h("dd", {}, p.first_used_by ? `${p.recorded_by} (first used by ${p.first_used_by})` : p.recorded_by),
      h("dt", {}, "Recorded"), h("dd", {}, formatTime(p.recorded_at)),
      h("dt", {}, "Approvals so far"), h("dd", {}, approvals),
    ),
    h("h3", {}, "Changes against the policy in force"),
    diffView(diff),
    h("details", {}, h("summary", {}, "Its text"), h("pre", { tabindex: "0", "aria-label": "Pending policy text" }, p.text)),
    approve || reject ? h("div", { class: "actions" }, approve, reject) : null,
  );
}

/** A unified diff, each line marked as added, removed or context (text only). */
function diffView(diff) {
  if (!diff) return h("p", { class: "muted" }, "No difference in the text.");
  const lines = diff.split("\n").filter((l) => l.length);
  const kind = (l) => (l.startsWith("+++") || l.startsWith("---") || l.startsWith("@@") ? "diff-head" : l.startsWith("+") ? "diff-add" : l.startsWith("-") ? "diff-del" : "diff-same");
  return h("pre", { class: "card policy-diff", id: "policy-diff", tabindex: "0", "aria-label": "Changes against the policy in force" }, lines.map((l) => h("span", { class: kind(l) }, `${l}\n`)));
}

function checkForm(app, text) {
  const area = h("textarea", { name: "policy_text", rows: "12", value: text });
  const out = h("div", { role: "status", "aria-live": "polite", id: "policy-check" });
  const check = h("button", { type: "submit" }, "Check this policy");
  const ask = (checked) => {
    const button = h("button", { type: "button", id: "request-policy" }, "Ask to put in force");
    button.addEventListener("click", () => withButton(app, button, async () => {
      if (area.value !== checked) throw new Error("The text changed since it was checked: check it again.");
      const change = await api("POST", "/policy/request", { json: { text: checked } });
      app.go("#/policy");
      app.flash(change.message);
    }));
    return button;
  };
  const form = h(
    "form",
    { class: "stack", on: { submit: (e) => { e.preventDefault(); withButton(app, check, async () => {
      const checked = area.value;
      const res = await api("POST", "/policy/validate", { json: { text: checked } });
      const admin = app.has("administrator");
      replace(
        out,
        res.valid
          ? h("div", {}, h("p", { class: "chain-ok" }, `Valid (SHA-256 ${res.sha256}).${admin ? " A second administrator must approve it before it is in force." : " An administrator may ask to put it in force."}`), res.profile ? requirementsTable(res.profile) : null, admin ? ask(checked) : null)
          : h("div", { class: "error-box" }, h("p", {}, "Not valid:"), h("ul", {}, res.problems.map((p) => h("li", {}, `${p.field}: ${p.message}`)))),
      );
    }); } } },
    profilePicker(area),
    field("Policy text (TOML)", area),
    h("div", { class: "actions" }, check),
    out,
  );
  return h("section", {}, h("h2", {}, "Check a new policy"), form);
}
