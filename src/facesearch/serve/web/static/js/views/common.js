// Pieces several views share.
import { h } from "../dom.js";

export const STATUS_WORDS = {
  pending: "pending approval",
  open: "open (approved)",
  rejected: "rejected",
  closed: "closed",
};

export function statusBadge(status) {
  return h("span", { class: `status status-${status}` }, STATUS_WORDS[status] || status);
}

export const BAND_WORDS = {
  strong: "strong",
  possible: "possible",
  weak: "weak",
};

export function bandBadge(band) {
  return h("span", { class: `band band-${band}` }, BAND_WORDS[band] || band);
}

export const DECISION_WORDS = {
  possible_match: "possible match",
  not_a_match: "not a match",
  insufficient_quality: "insufficient quality",
};

export function errorBox(err) {
  return h("p", { class: "error-box", role: "alert" }, err.message || String(err));
}

/** Run an async action from a button: disabled while it runs, errors shown by app.flash. */
export async function withButton(app, button, action) {
  button.disabled = true;
  try {
    await action();
  } catch (err) {
    app.flash(err.message, true);
  } finally {
    button.disabled = false;
  }
}
