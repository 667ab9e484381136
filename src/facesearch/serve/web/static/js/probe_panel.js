// The probe on the results page: every probe of the search (numbered when there are several),
// its searched face (the picture every candidate is judged against) and the whole photo, small,
// with that face boxed; on a group photo it says which face was searched.
import { api } from "./api.js";
import { h } from "./dom.js";
import { pictureClass } from "./wellbeing.js";

const ORDINALS = ["largest", "second largest", "third largest"];

/** Words for the face searched: "the largest of 2 faces found in the photo", ... */
export function searchedFaceWords(p) {
  if (p.purged) return "No longer kept: the case's retention period deleted it (its SHA-256 stays on record).";
  if (p.face === null || p.face === undefined) return `The searched face was not found again in the photo (${p.faces_found} faces found): the whole photo is shown.`;
  if (p.faces_found <= 1) return "The only face found in the photo.";
  const which = p.faces_found === 2 ? ["larger", "smaller"][p.face] : ORDINALS[p.face] || `number ${p.face + 1} by size`;
  return `Face ${p.face + 1} of ${p.faces_found} found in the photo (the ${which}), boxed in red.`;
}

export function probePanel(app, probes) {
  const many = probes.length > 1;
  return h(
    "section",
    { class: "probe-panel", id: "probe-panel", "aria-labelledby": "probe-title" },
    h("h3", { id: "probe-title" }, many ? `The probes (${probes.length}), as searched` : "The probe, as searched"),
    h(
      "ol",
      { class: "probe-list" },
      probes.map((p) =>
        h(
          "li",
          { class: "probe", dataset: { position: String(p.position), face: p.face === null || p.face === undefined ? "" : String(p.face) } },
          many ? h("h4", {}, `Probe ${p.position}${p.label ? `: ${p.label}` : ""}`) : null,
          p.purged
            ? null
            : h(
                "div",
                { class: "probe-pictures" },
                h("img", { class: pictureClass(app, "probe-whole"), src: p.image_src, alt: `Probe ${p.position}: the whole photo, the searched face boxed` }),
              ),
          h("p", { class: "probe-words muted" }, searchedFaceWords(p)),
        ),
      ),
    ),
  );
}

/**
 * The search's probes (GET /searches/{id}/probes) with their pictures read once (each read is
 * audited) and kept as object URLs for this page (revoked when it is left).
 */
export async function loadProbes(app, searchId) {
  const out = await api("GET", `/searches/${searchId}/probes`);
  const urls = [];
  await Promise.all(
    out.probes.map(async (p) => {
      if (p.purged) return;
      const [face, whole] = await Promise.all([api("GET", p.face_url, { blob: true }), api("GET", p.image_url, { blob: true })]);
      p.face_blob = face;
      p.face_src = URL.createObjectURL(face);
      p.image_src = URL.createObjectURL(whole);
      urls.push(p.face_src, p.image_src);
    }),
  );
  app.cleanup.push(() => urls.forEach((u) => URL.revokeObjectURL(u)));
  return out.probes;
}

/** The probe a candidate is best compared with: the one that matched it best, else the first. */
export function probeFor(probes, candidate) {
  const best = candidate && candidate.best_probe;
  return probes.find((p) => p.position === best && !p.purged) || probes.find((p) => !p.purged) || probes[0] || null;
}
