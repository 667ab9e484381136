// The supervisor's "Quality overrides" section of the approval queue: probe faces below the
// policy's minimum quality that an investigator asks to search anyway, to grant or refuse.
import { api } from "../api.js";
import { formatTime, h, input, replace, table } from "../dom.js";
import { withButton } from "./common.js";

/** A section that loads the pending overrides itself (shown in approvalsView). */
export function overridesSection(app) {
  const body = h("div", { id: "quality-overrides" }, h("p", { class: "muted" }, "Loading…"));
  async function refresh() {
    let list;
    try {
      list = await api("GET", "/quality-overrides", { query: { status: "pending" } });
    } catch (err) {
      replace(body, h("p", { class: "error-box" }, err.message));
      return;
    }
    replace(
      body,
      list.length
        ? table(
            ["Case", "Asked by", "Probe face", "Quality", "Reason", "Decision"],
            list.map((o) =>
              h(
                "tr",
                { dataset: { override: String(o.id) } },
                h("td", {}, h("a", { href: `#/cases/${encodeURIComponent(o.case)}` }, o.case)),
                h("td", {}, `${o.requested_by}, ${formatTime(o.requested_at)}`),
                h("td", {}, `face ${o.face + 1} of probe ${o.probe_sha256.slice(0, 12)}…`),
                h("td", {}, o.quality === null ? "not given" : o.quality.toFixed(2)),
                h("td", {}, o.reason),
                h("td", {}, controls(o)),
              ),
            ),
            "Quality overrides waiting for a decision",
          )
        : h("p", { class: "muted" }, "No quality override is waiting for a decision."),
    );
  }

  function controls(o) {
    if (o.requested_by === app.me.username) return h("span", { class: "muted" }, "Asked by you: another supervisor decides.");
    const note = input("note", { "aria-label": `Note on override ${o.id}`, placeholder: "note" });
    const grant = h("button", { type: "button", "aria-label": `Grant override ${o.id}` }, "Grant");
    const refuse = h("button", { type: "button", class: "danger", "aria-label": `Refuse override ${o.id}` }, "Refuse");
    const decide = (verb, button) =>
      withButton(app, button, async () => {
        if (verb === "refuse" && !note.value.trim()) throw new Error("A refusal needs a note saying why.");
        const out = await api("POST", `/quality-overrides/${o.id}/${verb}`, { json: { note: note.value.trim() } });
        app.flash(`Override ${out.id} for case ${out.case}: ${out.status}.`);
        await refresh();
      });
    grant.addEventListener("click", () => decide("grant", grant));
    refuse.addEventListener("click", () => decide("refuse", refuse));
    return h("div", { class: "decision" }, note, grant, refuse);
  }

  refresh();
  return h(
    "section",
    { "aria-labelledby": "overrides-title" },
    h("h2", { id: "overrides-title" }, "Quality overrides"),
    h("p", {}, "Probe faces below the policy's minimum quality that an investigator asks to search once. The search it allows records who granted it and why."),
    body,
  );
}
