// The New search page's request for a supervised quality override of one probe face: its
// state when one was asked (pending, granted, refused, used), else a reason and a button.
import { api } from "../api.js";
import { field, h, replace } from "../dom.js";

const STATE_WORDS = {
  pending: (o) => `Override ${o.id} asked: waiting for a supervisor of the case to decide.`,
  granted: (o) => `Override ${o.id} granted by ${o.decided_by}: you may search face ${o.face + 1} of this photo once.`,
  refused: (o) => `Override ${o.id} refused by ${o.decided_by}${o.decision_note ? `: “${o.decision_note}”` : "."}`,
  used: (o) => `Override ${o.id} was used by search ${o.search_id}.`,
};

/** The override panel for face `f` of the examined probe `found` in case `c`. */
export function overridePanel(app, c, found, f) {
  const box = h("div", { class: "override-panel", id: "override-panel" }, h("p", { class: "muted" }, "Looking for an override of this face…"));
  load();
  return box;

  async function load() {
    let mine = [];
    try {
      mine = (await api("GET", "/quality-overrides", { query: { case: c.number, probe_sha256: found.sha256 } })).filter((o) => o.face === f.index);
    } catch {
      mine = []; // e.g. the policy or the role: the request itself will say
    }
    const open = mine.find((o) => o.status === "pending" || o.status === "granted");
    if (open) {
      replace(box, h("p", { class: `override-state override-${open.status}` }, STATE_WORDS[open.status](open)));
    } else {
      const last = mine[0];
      replace(box, last ? h("p", { class: "override-state" }, STATE_WORDS[last.status](last)) : null, form());
    }
    keepInView();
  }

  /** The message grew: keep all of it (the status box around it) in view. */
  function keepInView() {
    (box.closest("#search-status") || box).scrollIntoView({ block: "nearest" });
  }

  function form() {
    const reason = h("textarea", { name: "reason", rows: 2, maxlength: 5000, required: true });
    const ask = h("button", { type: "button", id: "ask-override" }, "Ask a supervisor for an override");
    ask.addEventListener("click", async () => {
      if (reason.value.trim().length < 10) {
        app.flash("Say why this face must be searched (at least 10 characters).", true);
        reason.focus();
        return;
      }
      ask.disabled = true;
      try {
        const out = await api("POST", `/cases/${encodeURIComponent(c.number)}/quality-overrides`, {
          json: { probe_sha256: found.sha256, face: f.index, reason: reason.value.trim(), quality: f.quality },
        });
        replace(box, h("p", { class: "override-state override-pending" }, STATE_WORDS.pending(out)));
        keepInView();
      } catch (err) {
        ask.disabled = false;
        app.flash(err.message, true);
      }
    });
    return h("div", { class: "override-form" }, field(`Reason to search face ${f.index + 1} anyway`, reason, "A supervisor of the case decides; the search it allows is logged as run under the override."), ask);
  }
}
