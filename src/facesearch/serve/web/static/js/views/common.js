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

/** The page title of an error by its HTTP status: a refusal in words, not "Something went
 * wrong" (which stays for the errors that are not the user's: 5xx, the network). */
export const ERROR_TITLES = {
  400: "Not possible",
  403: "Not allowed",
  404: "Not found",
  409: "Not possible now",
  410: "No longer available",
  413: "Too large",
  415: "Not a supported file",
  422: "Not accepted",
  429: "Too many requests",
};

export function errorTitle(err) {
  return ERROR_TITLES[err && err.status] || "Something went wrong";
}

/** A server's message as a sentence: a capital first letter and a full stop (and, from an
 * older server, without the internal action name: "search.view refused: ..."). */
export function sentence(text) {
  const plain = String(text || "").replace(/^[a-z_]+(\.[a-z_]+)* refused: /, "").trim();
  if (!plain) return "";
  const capital = plain.charAt(0).toUpperCase() + plain.slice(1);
  return /[.!?)]$/.test(capital) ? capital : `${capital}.`;
}

export function errorBox(err) {
  return h("p", { class: "error-box", role: "alert" }, sentence(err.message || String(err)));
}

/** Run an async action from a button: disabled while it runs, errors shown by app.flash. */
export async function withButton(app, button, action) {
  button.disabled = true;
  try {
    await action();
  } catch (err) {
    app.flash(sentence(err.message), true);
  } finally {
    button.disabled = false;
  }
}

/** What happened to a case, in words (its history, from the audit log). */
export const EVENT_WORDS = {
  requested: "Requested",
  approved: "Approved",
  rejected: "Rejected",
  amended: "Amended",
  resubmitted: "Resubmitted for approval",
  assigned: "Investigator assigned",
  unassigned: "Investigator unassigned",
  closed: "Closed",
};

export const FIELD_WORDS = {
  purpose: "Purpose",
  legal_authority: "Legal authority",
  justification: "Justification",
};
