import { api } from "../api.js";
import { openCompare } from "../compare.js";
import { confirmDialog, formatTime, h, replace } from "../dom.js";
import { loadProbes, probeFor, probePanel } from "../probe_panel.js";
import { bandBadge, DECISION_WORDS, errorBox } from "./common.js";
import { openViewer } from "../viewer.js";
import { standingForm } from "./alerts.js";
import { pictureClass, wellbeing } from "../wellbeing.js";

const KEYS = [
  ["1", "possible_match", "Possible match"],
  ["2", "not_a_match", "Not a match"],
  ["3", "insufficient_quality", "Insufficient quality"],
];
const SKIP_KEYS = ["s", "ArrowRight", "j"];
// two-person confirmation: a candidate's status (its colour borrows the case states')
const IDENT_WORDS = { possible_match: ["possible match", "pending"], confirmed: ["confirmed identification", "open"], disputed: ["disputed", "rejected"] };
const VERDICTS = [["confirm", "Confirm"], ["reject", "Reject"], ["inconclusive", "Inconclusive"]];
const BACK_KEYS = ["ArrowLeft", "k"];
// a reviewed tile shows its decision by a mark and words, not by colour alone
const DECISION_MARKS = { possible_match: "✓", not_a_match: "✗", insufficient_quality: "◐" };

function positionKey(searchId) {
  return `facesearch.review.${searchId}`;
}

/**
 * Results and their review: a grid of face crops (rank, score, band), the current candidate
 * with its provenance, keyboard review with notes, progress, undo, and the position kept in
 * the address (and this browser) so that a reload comes back to the same candidate.
 */
export async function resultsView(app, [searchId], query) {
  const search = await api("GET", `/searches/${searchId}`);
  const candidates = search.candidates;
  const canReview = app.has("investigator", "supervisor");
  const history = []; // {index, faceId, previous, decided} of this visit, for undo
  let at = initialPosition(searchId, query, candidates);
  let probes = [];
  let probeError = null;
  try {
    probes = await loadProbes(app, searchId);
  } catch (err) {
    probeError = err;
  }
  const probeBox = probes.length ? probePanel(app, probes) : null;

  const grid = h("ol", { class: "grid", id: "candidates", "aria-label": "Candidates" });
  const panel = h("aside", { class: "review-panel", id: "review-panel", "aria-label": "Current candidate" });
  const progressText = h("p", { id: "review-progress", role: "status", "aria-live": "polite" });
  const progressBar = h("progress", { max: String(candidates.length || 1), value: "0", "aria-label": "Candidates reviewed" });
  const note = h("textarea", { id: "review-note", name: "note", "aria-describedby": "note-hint" });

  function save() {
    const hash = `#/searches/${searchId}?at=${at}`;
    window.history.replaceState(null, "", hash);
    localStorage.setItem(positionKey(searchId), String(at));
  }

  function renderGrid() {
    replace(
      grid,
      candidates.map((c, i) =>
        h(
          "li",
          {
            class: `candidate band-border-${c.band}${i === at ? " current" : ""} ${c.decision ? `reviewed decision-${c.decision}` : "unreviewed"}`,
            dataset: { rank: String(c.rank), faceId: String(c.face_id), decision: c.decision || "" },
          },
          h(
            "button",
            {
              type: "button",
              class: "pick",
              "aria-current": i === at ? "true" : null,
              on: { click: () => moveTo(i) },
            },
            // named by its visible text (axe: label-content-name-mismatch), "Candidate" for
            // screen readers only; the crop is described by that name
            h("img", { class: pictureClass(app), src: c.crop_url, alt: "", loading: "lazy" }),
            h("div", { class: "meta" }, h("span", {}, h("span", { class: "visually-hidden" }, "Candidate "), `#${c.rank}`), h("span", {}, c.score.toFixed(3)), bandBadge(c.band)),
            h(
              "div",
              { class: "decision" },
              h("span", { class: "mark", "aria-hidden": "true" }, c.decision ? DECISION_MARKS[c.decision] : "○"),
              c.decision ? ` Reviewed: ${DECISION_WORDS[c.decision]}` : " Not reviewed",
              c.status === "confirmed" || c.status === "disputed" ? ` · ${IDENT_WORDS[c.status][0]}` : "",
            ),
          ),
        ),
      ),
    );
  }

  function renderProgress() {
    const done = candidates.filter((c) => c.decision).length;
    progressBar.value = done;
    progressText.textContent = candidates.length
      ? `Candidate ${at + 1} of ${candidates.length}. Reviewed ${done} of ${candidates.length}.`
      : "No candidates to review.";
  }

  function renderPanel() {
    const c = candidates[at];
    if (!c) {
      replace(panel, h("p", {}, "No candidate above the policy's band."));
      return;
    }
    const sameImage = candidates.filter((o) => o !== c && o.image_sha256 === c.image_sha256);
    note.value = "";
    replace(
      panel,
      h("h2", { id: "current-title" }, `Candidate ${c.rank} of ${candidates.length}`),
      sideBySide(c),
      probeBox,
      h("p", {}, `Score ${c.score.toFixed(3)} `, bandBadge(c.band), ` — ${bandMeaning(c.band)}`),
      c.best_score !== null && c.best_score !== undefined
        ? h(
            "p",
            { class: "muted", id: "probe-match" },
            `Score against the mean of the probes; best single probe ${c.best_probe}: ${c.best_score.toFixed(3)} (${c.best_band}); `,
            `matched by probe${(c.matched_probes || []).length === 1 ? "" : "s"} ${(c.matched_probes || []).join(", ") || "none"} of ${c.probe_scores.length}.`,
          )
        : null,
      h("p", { id: "current-decision" }, c.decision ? `Decision: ${DECISION_WORDS[c.decision]}` : "Not reviewed yet"),
      IDENT_WORDS[c.status] ? h("p", { id: "identification-status" }, "Status: ", h("span", { class: `status status-${IDENT_WORDS[c.status][1]}` }, IDENT_WORDS[c.status][0])) : null,
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", id: "open-compare", on: { click: () => showCompare() } }, "Compare side by side (C)"),
        h("button", { type: "button", class: "secondary", id: "show-image", on: { click: () => showImage(c) } }, "Full image (V)"),
      ),
      canReview ? reviewControls() : h("p", { class: "muted" }, "Only investigators and supervisors record reviews."),
      (c.reviews || []).length || (c.verifications || []).length
        ? h(
            "ul",
            { class: "provenance", id: "examinations" },
            (c.reviews || []).map((r) => h("li", {}, r.hidden ? `${DECISION_WORDS[r.decision] || r.decision}: awaiting your independent verification` : `${DECISION_WORDS[r.decision] || r.decision} by ${r.reviewer}, ${formatTime(r.at)}${r.note ? `: ${r.note}` : ""}`)),
            (c.verifications || []).map((v) => h("li", {}, `verified (${v.verdict}) by ${v.verifier}, ${formatTime(v.at)}${v.basis ? ` [${v.basis}]` : ""}${v.note ? `: ${v.note}` : ""}`)),
          )
        : null,
      c.verifications_hidden ? h("p", { class: "muted" }, `${c.verifications_hidden} other verification(s) shown once you record yours.`) : null,
      c.can_verify ? verifyControls(c) : null,
      h("h3", {}, "Where the image comes from"),
      h("ul", { class: "provenance" }, (c.provenance || []).map(provenanceItem)),
      sameImage.length
        ? h("p", {}, "Other faces of the same image in these results: ", sameImage.map((o) => h("button", { type: "button", class: "secondary", on: { click: () => moveTo(candidates.indexOf(o)) } }, `#${o.rank}`)))
        : null,
    );
  }

  /** The probe's searched face beside the candidate's crop (a multi-probe search: the probe
   * that matched the candidate best), the whole probe below with the searched face boxed. */
  function sideBySide(c) {
    const p = probeFor(probes, c);
    return h(
      "div",
      { class: "pair", id: "current-pair" },
      h(
        "figure",
        { class: "pair-probe" },
        p && p.face_src
          ? h("img", { class: pictureClass(app), id: "pair-probe-face", src: p.face_src, alt: `Searched face of probe ${p.position}` })
          : h("p", { class: "muted" }, probeError ? `The probe cannot be shown: ${probeError.message}` : "The probe is no longer kept."),
        h("figcaption", {}, probes.length > 1 && p ? `Probe ${p.position}` : "Probe"),
      ),
      h(
        "figure",
        { class: "pair-candidate" },
        h("img", { class: pictureClass(app), src: c.crop_url, alt: `Face crop of candidate ${c.rank}` }),
        h("figcaption", {}, `Candidate ${c.rank}`),
      ),
    );
  }

  /** A second examiner's independent verdict on a possible match someone else reviewed. */
  function verifyControls(c) {
    const vnote = h("textarea", { id: "verify-note", name: "verify-note" });
    const basis = h("input", { id: "verify-basis", name: "basis", placeholder: "e.g. FISWG morphological comparison" });
    async function verify(verdict) {
      try {
        const v = await api("POST", `/searches/${search.search_id}/verifications`, {
          json: { face_id: c.face_id, verdict, note: vnote.value.trim(), basis: basis.value.trim() },
        });
        const fresh = await api("GET", `/searches/${search.search_id}`);
        Object.assign(c, fresh.candidates.find((x) => x.face_id === c.face_id) || {});
        app.flash(`Candidate ${c.rank}: ${verdict} recorded; ${(IDENT_WORDS[v.status] || [v.status])[0]}.`);
        render();
      } catch (err) {
        app.flash(err.message, true);
      }
    }
    return h(
      "fieldset",
      { id: "verify" },
      h("legend", {}, "Independent verification (two-person rule)"),
      h("label", { for: basis.id }, "Basis of your comparison"),
      basis,
      h("label", { for: vnote.id }, "Verification note"),
      vnote,
      h("div", { class: "review-buttons" }, VERDICTS.map(([verdict, label]) => h("button", { type: "button", dataset: { verdict }, on: { click: () => verify(verdict) } }, label))),
    );
  }

  function reviewControls() {
    return h(
      "div",
      {},
      h("label", { for: note.id }, "Note (optional)"),
      note,
      h("p", { class: "hint muted", id: "note-hint" }, "Keys work outside the note; press Escape to leave it."),
      h(
        "div",
        { class: "review-buttons" },
        KEYS.map(([key, decision, label]) =>
          h("button", { type: "button", dataset: { decision }, on: { click: () => decide(decision) } }, h("kbd", {}, key), ` ${label}`),
        ),
        h("button", { type: "button", class: "secondary", id: "skip", on: { click: () => skip() } }, h("kbd", {}, "S"), " Skip"),
        h("button", { type: "button", class: "secondary", id: "undo", on: { click: () => undo() } }, h("kbd", {}, "U"), " Undo"),
        h("button", { type: "button", class: "secondary", id: "rest-not-match", on: { click: () => restNotAMatch() } }, "Not a match for the rest…"),
      ),
      h(
        "div",
        { class: "keys", "aria-label": "Keyboard shortcuts" },
        h("span", {}, h("kbd", {}, "←"), " ", h("kbd", {}, "→")),
        h("span", {}, "previous / next candidate"),
        h("span", {}, h("kbd", {}, "V")),
        h("span", {}, "full image"),
        h("span", {}, h("kbd", {}, "C")),
        h("span", {}, "compare side by side"),
        h("span", {}, h("kbd", {}, "N")),
        h("span", {}, "write a note"),
      ),
    );
  }

  function render() {
    const focusInGrid = grid.contains(document.activeElement); // the grid is built anew:
    renderGrid();
    renderPanel();
    renderProgress();
    // keep a keyboard user's focus, on the current candidate (not lost to the page's body)
    if (focusInGrid) grid.querySelector('button.pick[aria-current="true"]')?.focus({ preventScroll: true });
  }

  function moveTo(i) {
    if (i < 0 || i >= candidates.length) return;
    const focusInGrid = grid.contains(document.activeElement);
    at = i;
    save();
    render();
    // the current tile stays in view (and keeps the focus when it had it)
    const tile = grid.querySelector("li.current");
    if (tile) {
      tile.scrollIntoView({ block: "nearest", inline: "nearest" });
      if (focusInGrid) tile.querySelector("button.pick").focus({ preventScroll: true });
    }
  }

  function skip() {
    history.push({ index: at, decided: false });
    moveTo(Math.min(at + 1, candidates.length - 1));
  }

  /** Record a review of candidate `c` and keep it in the page (no move). */
  async function record(c, decision, noteText) {
    const review = await api("POST", `/searches/${search.search_id}/reviews`, {
      json: { face_id: c.face_id, decision, note: noteText },
    });
    c.decision = review.decision === "withdrawn" ? null : review.decision;
    c.reviews = [...(c.reviews || []), review];
    return review;
  }

  async function decide(decision) {
    const c = candidates[at];
    if (!c) return;
    try {
      const previous = c.decision;
      await record(c, decision, note.value.trim());
      history.push({ index: at, faceId: c.face_id, previous, decided: true });
      app.flash(`Candidate ${c.rank}: ${DECISION_WORDS[decision]}.`);
      const next = candidates.findIndex((x, i) => i > at && !x.decision);
      moveTo(next >= 0 ? next : Math.min(at + 1, candidates.length - 1));
    } catch (err) {
      // An expired session: say which decision was lost, so that it is made again after
      // signing in (the sign-in page returns here).
      if (err.status === 401) app.flash(`Your session has ended: candidate ${c.rank}'s decision (${DECISION_WORDS[decision]}) was not recorded. Sign in again and make it again.`, true);
      else app.flash(err.message, true);
    }
  }

  /** Undo the last step of this visit: a skip goes back; a decision is reverted by a new
   * review restoring the previous decision (or "withdrawn" when there was none): both stay on
   * record in the audit log, as every review does. */
  async function undo() {
    const last = history.pop();
    if (!last) {
      app.flash("Nothing to undo in this visit.");
      return;
    }
    const c = candidates[last.index];
    if (!last.decided) {
      moveTo(last.index);
      app.flash(`Back to candidate ${c.rank}.`);
      return;
    }
    try {
      await record(c, last.previous || "withdrawn", "undo");
      moveTo(last.index);
      app.flash(
        last.previous
          ? `Undone: candidate ${c.rank} is back to “${DECISION_WORDS[last.previous]}” (both reviews stay in the audit log).`
          : `Undone: candidate ${c.rank} is not reviewed again (the withdrawn review stays in the audit log).`,
      );
    } catch (err) {
      history.push(last);
      app.flash(`Not undone: ${err.message}`, true);
    }
  }

  /** "Not a match" for every candidate not reviewed yet, after a confirmation: one review
   * each (each audited), with the progress shown. */
  async function restNotAMatch() {
    const rest = candidates.filter((c) => !c.decision);
    if (!rest.length) {
      app.flash("Every candidate is already reviewed.");
      return;
    }
    const ok = await confirmDialog(
      `Record “not a match” for the ${rest.length} candidate${rest.length === 1 ? "" : "s"} not reviewed yet? Each is recorded as your review in the audit log (Undo does not reverse this).`,
      `Mark ${rest.length} not a match`,
    );
    if (!ok) return;
    let done = 0;
    for (const c of rest) {
      progressText.textContent = `Recording “not a match” for the rest: ${done} of ${rest.length}…`;
      try {
        await record(c, "not_a_match", note.value.trim());
      } catch (err) {
        render();
        app.flash(`Stopped after ${done} of ${rest.length}: ${err.message}`, true);
        return;
      }
      done += 1;
      progressBar.value = candidates.filter((x) => x.decision).length;
    }
    render();
    app.flash(`Recorded “not a match” for the ${done} remaining candidate${done === 1 ? "" : "s"}.`);
  }

  function showCompare() {
    if (!candidates.length) return;
    openCompare(app, {
      search,
      candidates,
      probes,
      at: () => at,
      moveTo,
      decide: canReview ? decide : null,
    });
  }

  function showImage(c) {
    openViewer(app, search, c, candidates);
  }

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target === note && event.key === "Escape") {
      note.blur();
      return;
    }
    if (target.closest && target.closest("input, textarea, select, dialog")) return;
    const key = event.key;
    const decision = KEYS.find(([k]) => k === key);
    if (canReview && decision) decide(decision[1]);
    else if (canReview && ["p", "P"].includes(key)) decide("possible_match");
    else if (canReview && ["x", "X"].includes(key)) decide("not_a_match");
    else if (canReview && ["q", "Q"].includes(key)) decide("insufficient_quality");
    else if (SKIP_KEYS.includes(key) || key === "S") skip();
    else if (BACK_KEYS.includes(key)) moveTo(at - 1);
    else if (canReview && ["u", "U"].includes(key)) undo();
    else if (["v", "V"].includes(key)) showImage(candidates[at]);
    else if (["c", "C"].includes(key)) showCompare();
    else if (canReview && ["n", "N"].includes(key)) note.focus();
    else return;
    event.preventDefault();
  }
  document.addEventListener("keydown", onKey);
  app.cleanup.push(() => document.removeEventListener("keydown", onKey));

  /** Greyscale pictures (the wellbeing setting) shown in colour on request, and back. */
  function colourToggle() {
    const button = h("button", { type: "button", class: "secondary", id: "show-colour", "aria-pressed": "false" }, "Show pictures in colour");
    button.addEventListener("click", () => {
      const on = document.body.classList.toggle("wb-colour");
      button.setAttribute("aria-pressed", String(on));
      replace(button, on ? "Show pictures greyscale" : "Show pictures in colour");
    });
    app.cleanup.push(() => document.body.classList.remove("wb-colour"));
    return h("p", {}, button);
  }

  if (query.get("compare")) setTimeout(showCompare, 0);
  save();
  render();
  const hidden = [];
  if (search.hidden_below_band) hidden.push(`${search.hidden_below_band} below the ${search.min_band_shown} band`);
  if (search.hidden_suppressed) hidden.push(`${search.hidden_suppressed} suppressed on request`);
  return h(
    "section",
    {},
    h("h1", {}, `Search ${search.search_id} in case `, h("a", { href: `#/cases/${encodeURIComponent(search.case)}` }, search.case)),
    h("p", { class: "statement", id: "statement" }, search.statement),
    h(
      "p",
      { class: "muted" },
      `By ${search.user}, ${formatTime(search.at)}; ${candidates.length} candidates (k ${search.k_used})`,
      hidden.length ? `; hidden: ${hidden.join(", ")}` : "",
      `; model ${search.model}; probe SHA-256 ${String(search.probe_sha256).slice(0, 12)}…`,
    ),
    search.multi_probe
      ? h(
          "p",
          { class: "muted", id: "probes" },
          `${search.probes.length} probes as one query${search.cluster !== null && search.cluster !== undefined ? ` (media cluster ${search.cluster})` : ""}: `,
          search.probes.map((p) => `${p.position}. ${p.label || "probe"} (${String(p.sha256).slice(0, 12)}…)`).join("; "),
        )
      : null,
    search.results_purged_at ? errorBox(new Error(`Results purged ${formatTime(search.results_purged_at)} (retention).`)) : null,
    progressText,
    progressBar,
    wellbeing(app).greyscale ? colourToggle() : null,
    h("div", { class: "results-layout" }, grid, panel),
    standingForm(app, search),
  );
}

function initialPosition(searchId, query, candidates) {
  const fromHash = Number.parseInt(query.get("at") ?? "", 10);
  const stored = Number.parseInt(localStorage.getItem(positionKey(searchId)) ?? "", 10);
  const firstOpen = candidates.findIndex((c) => !c.decision);
  const at = Number.isFinite(fromHash) ? fromHash : Number.isFinite(stored) ? stored : Math.max(firstOpen, 0);
  return Math.min(Math.max(at, 0), Math.max(candidates.length - 1, 0));
}

function bandMeaning(band) {
  if (band === "strong") return "the scores of the same person usually reach this; still only a lead";
  if (band === "possible") return "sometimes the same person, often not";
  return "below the match threshold: most likely someone else";
}

function provenanceItem(p) {
  const bits = [];
  if (p.title) bits.push(p.title);
  if (p.collection) bits.push(`collection ${p.collection}`);
  if (p.captured_at) bits.push(`captured ${p.captured_at}`);
  const link = safeLink(p.page_url) || safeLink(p.source_url);
  return h(
    "li",
    {},
    bits.join(", ") || p.path || "recorded source",
    link ? [" — ", h("a", { href: link, target: "_blank", rel: "noopener noreferrer" }, "source page")] : null,
    !link && p.path ? h("div", { class: "muted" }, p.path) : null,
  );
}

/** Only http(s) links leave the app (never javascript: or data: addresses). */
function safeLink(value) {
  if (!value) return null;
  try {
    const u = new URL(value);
    return ["http:", "https:"].includes(u.protocol) ? u.href : null;
  } catch {
    return null;
  }
}
