// The gallery's recognizer (administrators): which model searches, the latest model migration
// with its progress (polled while it runs), its errors, and the switch / switch back, each
// after a confirmation. The switch is one audited transaction on the server; searches go on.
import { api } from "../api.js";
import { confirmDialog, formatTime, h, replace, table } from "../dom.js";
import { errorBox, withButton } from "./common.js";

const POLL_MS = 3000;
const RUNNING = new Set(["running"]);

function progressBar(m) {
  const total = Math.max(m.total, 0);
  const pct = total ? Math.floor((100 * m.done) / total) : m.state === "running" ? 0 : 100;
  return h(
    "div",
    { class: "migration-progress" },
    h("progress", { id: "migration-progress", max: "100", value: String(pct), "aria-label": `Re-embedded ${m.done} of ${total} faces` }),
    h("span", {}, ` ${m.done} of ${total} faces (${pct}%)`),
  );
}

function migrationCard(m) {
  if (!m) return h("p", { class: "muted" }, "No model migration was started. Add a model and calibrate it, then run 'facesearch models migrate NAME'.");
  const errors = Object.entries(m.errors || {});
  return h(
    "div",
    { class: "card migration", dataset: { state: m.state } },
    h("h3", {}, `Migration ${m.id}: to ${m.target}`),
    h(
      "dl",
      { class: "details" },
      h("dt", {}, "State"), h("dd", { id: "migration-state" }, m.state),
      h("dt", {}, "From"), h("dd", {}, m.source_model_key),
      h("dt", {}, "To"), h("dd", {}, m.target_model_key),
      h("dt", {}, "Started"), h("dd", {}, `${formatTime(m.started_at)} by ${m.started_by}`),
      m.switched_at ? [h("dt", {}, "Switched"), h("dd", {}, `${formatTime(m.switched_at)} by ${m.switched_by}`)] : null,
      m.from_crop ? [h("dt", {}, "From crops"), h("dd", {}, `${m.from_crop} faces (their original photo is gone)`)] : null,
      h("dt", {}, "Failed"), h("dd", {}, String(m.failed)),
    ),
    progressBar(m),
    errors.length
      ? table(["Face", "Why"], errors.slice(0, 50).map(([face, why]) => h("tr", {}, h("td", {}, face), h("td", {}, why))), "Faces the migration could not re-embed")
      : null,
  );
}

function blockers(list, id) {
  return list.length ? h("ul", { class: "blockers", id }, list.map((b) => h("li", {}, b))) : null;
}

export async function modelsView(app) {
  const box = h("div", { id: "models-status", "aria-live": "polite" });
  let timer = null;
  app.cleanup.push(() => clearTimeout(timer));

  async function act(button, question, label, path, json) {
    if (!(await confirmDialog(question, label, button))) return;
    await withButton(app, button, async () => {
      const r = await api("POST", path, json ? { json } : {});
      app.flash(`Switched from ${r.source} to ${r.target}: ${r.moved} faces now answer with it (audit entry ${r.audit_seq}).`);
      await refresh();
    });
  }

  function render(s) {
    const switchButton = h("button", { type: "button", id: "switch", disabled: !s.can_switch }, s.migration ? `Switch to ${s.migration.target}` : "Switch");
    switchButton.addEventListener("click", () =>
      act(switchButton, `Switch every search of this gallery to ${s.migration.target}? The old vectors are kept until dropped.`, "Switch", "/models/migration/switch", { target: s.migration.target }),
    );
    const backButton = h("button", { type: "button", class: "secondary", id: "switch-back", disabled: !s.can_switch_back }, s.previous ? `Switch back to ${s.previous}` : "Switch back");
    backButton.addEventListener("click", () =>
      act(backButton, `Switch the gallery back to ${s.previous}?`, "Switch back", "/models/migration/switch-back"),
    );
    const admin = app.has("administrator");
    return [
      h(
        "dl",
        { class: "details", id: "active-recognizer" },
        h("dt", {}, "Searches with"), h("dd", {}, `${s.active} (${s.active_model_key})`),
        s.switched_at ? [h("dt", {}, "Since"), h("dd", {}, `${formatTime(s.switched_at)} by ${s.switched_by}`)] : null,
        h("dt", {}, "Previous"), h("dd", {}, s.previous ? `${s.previous} (${s.previous_model_key})` : "none"),
      ),
      h("h2", {}, "Latest migration"),
      migrationCard(s.migration),
      admin ? h("div", { class: "actions" }, switchButton, backButton) : null,
      admin && !s.can_switch ? blockers(s.switch_blockers.map((b) => `Switch: ${b}`), "switch-blockers") : null,
      admin && !s.can_switch_back && s.previous ? blockers(s.switch_back_blockers.map((b) => `Switch back: ${b}`), "switch-back-blockers") : null,
    ];
  }

  async function refresh() {
    let s;
    try {
      s = await api("GET", "/models/migration");
    } catch (err) {
      replace(box, errorBox(err));
      return;
    }
    replace(box, ...render(s));
    clearTimeout(timer);
    if (s.migration && RUNNING.has(s.migration.state)) timer = setTimeout(refresh, POLL_MS);
  }
  await refresh();
  return h(
    "section",
    { class: "models-page" },
    h("h1", {}, "Models"),
    h("p", { class: "muted" }, "The recognizer the gallery searches with. A migration re-embeds every face with a new model while searches go on; the switch is one audited step, and the old vectors stay until dropped ('facesearch models drop')."),
    box,
  );
}
