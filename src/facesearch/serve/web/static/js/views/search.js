import { all, api } from "../api.js";
import { field, h, input, replace, select } from "../dom.js";
import { drawCrop, drawProbe } from "./probe_draw.js";
import { overridePanel } from "./probe_override.js";

/**
 * A new search in a case. Choosing a photo finds its faces first (nothing is searched or
 * logged as a search): the faces are drawn on the photo with their confidence and quality
 * flags, doubtful detections marked, the largest real face preselected; the investigator
 * picks one and "Search face N" runs the one search. Several photos of one person are listed
 * with each one's status, each can be dropped. Progress and errors show next to the Search
 * button, scrolled into view.
 */
export async function newSearchView(app, [number]) {
  const c = await api("GET", `/cases/${encodeURIComponent(number)}`);
  const collections = await all("/collections");
  let photos = []; // { file, bitmap, found (probe-faces answer), error }
  let picked = null; // the face picked in a one-photo query
  let generation = 0; // a newer choice of photos makes the answers of an older one stale
  let busy = false;

  const fileInput = h("input", { type: "file", name: "probe", accept: "image/*", id: "probe-file", multiple: true });
  const dropzone = h(
    "div",
    { class: "dropzone", id: "dropzone" },
    h("p", {}, "Drag a probe photo here, or "),
    field("Choose a probe photo", fileInput),
    h("p", { class: "muted", id: "probe-name", "aria-live": "polite" }, "No photo chosen."),
  );
  const preview = h("canvas", { id: "probe-canvas", class: "hidden", role: "img", "aria-label": "The probe photo" });
  const picker = h("div", { id: "face-picker" });
  const status = h("div", { id: "search-status", role: "status", "aria-live": "polite" });

  const collection = select("collection", [["", "all collections"], ...collections.map((x) => [x.name, `${x.name} (${x.faces} faces)`])]);
  const from = input("captured_from", { type: "date" });
  const to = input("captured_to", { type: "date" });
  const source = input("source_prefix", { placeholder: "https://example.org/" });
  const k = input("k", { type: "number", min: 1, max: 200, value: "20", required: true });
  const flagged = h("input", { type: "checkbox", name: "include_flagged", id: "include-flagged" });
  const submit = h("button", { type: "submit", id: "run-search", disabled: true }, "Search");

  ["dragenter", "dragover"].forEach((ev) =>
    dropzone.addEventListener(ev, (e) => {
      e.preventDefault();
      dropzone.classList.add("dragover");
    }),
  );
  ["dragleave", "drop"].forEach((ev) => dropzone.addEventListener(ev, () => dropzone.classList.remove("dragover")));
  dropzone.addEventListener("drop", (e) => {
    e.preventDefault();
    if (!e.dataTransfer.files[0]) return;
    fileInput.files = e.dataTransfer.files; // the chooser shows the dropped file too
    choose(Array.from(e.dataTransfer.files).slice(0, 20));
  });
  fileInput.addEventListener("change", () => fileInput.files[0] && choose(Array.from(fileInput.files).slice(0, 20)));

  /** Show `node` in the status next to the Search button, scrolled into view; an alert is
   * focused too, so that it is read out and the keyboard is where the problem is. */
  function say(node, { alert = false } = {}) {
    stopTimer();
    replace(status, node);
    if (alert) {
      node.setAttribute("tabindex", "-1");
      node.focus({ preventScroll: true });
    }
    status.scrollIntoView({ block: "nearest" });
  }

  function problem(text) {
    return h("div", { class: "error-box probe-problem", role: "alert" }, text);
  }

  let timer = null;
  /** An elapsed-time indicator in the status while the server works (a 36 MP photo takes
   * seconds): the words are announced once, the seconds are not read out. */
  function progress(text) {
    stopTimer();
    const started = performance.now();
    const seconds = h("span", { class: "elapsed", "aria-hidden": "true" }, "0.0 s");
    const bar = h("progress", { "aria-label": text });
    replace(status, h("p", { class: "search-progress" }, bar, ` ${text} `, seconds));
    status.scrollIntoView({ block: "nearest" });
    timer = setInterval(() => {
      seconds.textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`;
    }, 100);
  }

  function stopTimer() {
    if (timer) clearInterval(timer);
    timer = null;
  }

  function setSubmit() {
    const usable = photos.filter((p) => p.found && p.found.faces.length);
    if (photos.length === 1) {
      submit.textContent = picked === null ? "Search" : `Search face ${picked + 1}`;
      submit.disabled = busy || picked === null;
    } else {
      submit.textContent = photos.length ? `Search ${photos.length} photos` : "Search";
      submit.disabled = busy || !photos.length || usable.length !== photos.length;
    }
  }

  async function choose(files) {
    generation += 1;
    const mine = generation;
    photos = files.map((file) => ({ file, bitmap: null, found: null, error: null }));
    picked = null;
    replace(picker);
    preview.classList.add("hidden");
    dropzone.querySelector("#probe-name").textContent =
      files.length > 1
        ? `${files.length} photos of one person, searched as one query: ${files.map((f) => f.name).join(", ")}`
        : `${files[0].name} (${Math.round(files[0].size / 1024)} KiB)`;
    busy = true;
    setSubmit();
    progress(files.length > 1 ? `Finding the faces in ${files.length} photos…` : "Finding the faces in the photo…");
    for (const p of photos) {
      try {
        p.bitmap = await createImageBitmap(p.file);
      } catch {
        p.bitmap = null;
      }
      try {
        const form = new FormData();
        form.append("probe", p.file, p.file.name || "probe");
        p.found = await api("POST", `/cases/${encodeURIComponent(c.number)}/probe-faces`, { form });
      } catch (err) {
        p.error = err.message;
      }
      if (mine !== generation) return; // another choice since
    }
    busy = false;
    show();
  }

  function show() {
    setSubmit();
    if (photos.length === 1) showOne(photos[0]);
    else showMany();
  }

  /** One photo: the faces on the photo and as a list of buttons; the picked one searched. */
  function showOne(p) {
    preview.classList.toggle("hidden", !p.bitmap);
    if (p.error || !p.found) {
      replace(picker);
      say(problem(`This photo cannot be searched: ${p.error}`), { alert: true });
      return;
    }
    const found = p.found;
    if (picked === null) picked = found.preselected;
    setSubmit();
    if (p.bitmap) drawProbe(preview, p.bitmap, found.faces, picked);
    const doubtful = found.faces.filter((f) => !f.likely_face).length;
    preview.setAttribute(
      "aria-label",
      `The probe photo with ${found.faces.length} numbered face box${found.faces.length === 1 ? "" : "es"}${doubtful ? ` (${doubtful} doubtful, dashed)` : ""}${picked !== null ? `; face ${picked + 1} picked` : ""}`,
    );
    if (!found.faces.length) {
      replace(picker);
      say(problem(found.message), { alert: true });
      return;
    }
    const buttons = found.faces.map((f) => faceButton(p, f));
    const chosen = found.faces.find((f) => f.index === picked);
    replace(
      picker,
      h("h2", {}, found.faces.length > 1 ? "Pick the face to search" : "The face to search"),
      h("p", { id: "face-message" }, found.message),
      h("p", { class: "muted" }, "Nothing is searched until you press Search. Dashed red boxes are doubtful detections: perhaps not a face."),
      h("div", { class: "face-picker", role: "group", "aria-label": "Faces found in the photo" }, buttons),
    );
    if (chosen && chosen.below_minimum) {
      say(h("div", { class: "error-box probe-problem", role: "alert" }, refusalWords(chosen, found.min_quality), overridePanel(app, c, found, chosen)), { alert: true });
    } else if (chosen && !chosen.likely_face) {
      say(problem(`Face ${chosen.index + 1} is a doubtful detection (confidence ${chosen.detector_score.toFixed(2)}): check it is a face before you search it.`));
    } else if (picked === null) {
      say(problem("None of the boxes is likely a face. Pick one only if it really is a face."), { alert: true });
    } else {
      say(h("p", {}, `Face ${picked + 1} will be searched. Press “Search face ${picked + 1}”, or pick another face.`));
    }
  }

  function faceButton(p, f) {
    const thumb = h("canvas", { width: 96, height: 96 });
    if (p.bitmap) drawCrop(thumb, p.bitmap, f.bbox);
    const notes = [];
    if (!f.likely_face) notes.push("doubtful: perhaps not a face");
    if (f.below_minimum) notes.push("quality below the policy minimum");
    notes.push(...f.causes.filter((x) => !/not sure it is a face/.test(x)));
    const isPicked = f.index === picked;
    const details = `confidence ${f.detector_score.toFixed(2)}, quality ${f.quality.toFixed(2)}`;
    return h(
      "button",
      {
        type: "button",
        class: `secondary face-choice${f.likely_face ? "" : " doubtful"}${f.below_minimum ? " below-minimum" : ""}`,
        "aria-pressed": isPicked ? "true" : "false",
        dataset: { face: String(f.index), bbox: f.bbox.join(",") },
        on: {
          click: () => {
            picked = f.index;
            showOne(p);
            picker.querySelector(`button[data-face="${f.index}"]`)?.focus();
          },
        },
      },
      thumb,
      // named by its visible text (axe: label-content-name-mismatch)
      h("span", { class: "face-title" }, `Face ${f.index + 1}${f.likely_face ? "" : " ?"}`, f.index === 0 ? h("span", { class: "visually-hidden" }, " (largest)") : null, " "),
      h("span", { class: "face-details" }, details, " "),
      notes.length ? h("span", { class: "face-flags" }, notes.join("; ")) : null,
    );
  }

  /** Several photos: each one's status, with "Drop this photo". */
  function showMany() {
    preview.classList.add("hidden");
    const rows = photos.map((p, i) => {
      const state = photoState(p);
      return h(
        "li",
        { class: state.ok ? "probe-photo" : "probe-photo refused", dataset: { photo: p.file.name } },
        h("span", { class: "probe-photo-name" }, `Photo ${i + 1}: ${p.file.name}`),
        h("span", { class: "probe-photo-state" }, state.text),
        h(
          "button",
          { type: "button", class: "secondary", "aria-label": `Drop this photo: ${p.file.name}`, on: { click: () => drop(i) } },
          "Drop this photo",
        ),
      );
    });
    const bad = photos.filter((p) => !photoState(p).ok);
    replace(picker, h("h2", {}, "The photos of this query"), h("ul", { id: "probe-photos", class: "probe-photos" }, rows));
    if (bad.length) {
      say(
        h(
          "div",
          { class: "error-box probe-problem", role: "alert" },
          h("p", {}, `${bad.length} of ${photos.length} photos cannot be searched: ${bad.map((p) => p.file.name).join(", ")}. The whole query would be refused.`),
          photos.length > bad.length
            ? h("button", { type: "button", id: "drop-refused", on: { click: () => dropAll(bad) } }, `Drop ${bad.length === 1 ? "it" : "them"} and keep the other ${photos.length - bad.length}`)
            : null,
        ),
        { alert: true },
      );
    } else {
      say(h("p", {}, `The largest face of each of the ${photos.length} photos will be searched as one query.`));
    }
  }

  function photoState(p) {
    if (p.error) return { ok: false, text: `cannot be read: ${p.error}` };
    if (!p.found) return { ok: false, text: "not examined" };
    const faces = p.found.faces;
    if (!faces.length) return { ok: false, text: "no face found" };
    const f = faces[0]; // a multi-photo query searches the largest face of each photo
    const n = `${faces.length} face${faces.length > 1 ? "s" : ""} found; the largest: quality ${f.quality.toFixed(2)}`;
    if (f.below_minimum) return { ok: false, text: `${n}, below the policy minimum ${p.found.min_quality.toFixed(2)}${f.causes.length ? ` (${f.causes.join("; ")})` : ""}` };
    return { ok: true, text: f.likely_face ? n : `${n} (a doubtful detection)` };
  }

  function drop(i) {
    photos.splice(i, 1);
    afterDrop();
  }

  function dropAll(bad) {
    photos = photos.filter((p) => !bad.includes(p));
    afterDrop();
  }

  function afterDrop() {
    picked = null;
    const names = photos.map((p) => p.file.name);
    dropzone.querySelector("#probe-name").textContent = photos.length > 1 ? `${photos.length} photos of one person, searched as one query: ${names.join(", ")}` : photos.length ? names[0] : "No photo chosen.";
    if (!photos.length) {
      replace(picker);
      setSubmit();
      say(h("p", {}, "No photo left: choose a probe photo."));
      return;
    }
    show();
  }

  async function run() {
    if (!photos.length) {
      say(problem("Choose a probe photo first."), { alert: true });
      fileInput.focus();
      return;
    }
    const form = new FormData();
    for (const p of photos) form.append("probe", p.file, p.file.name || "probe");
    form.append("k", k.value);
    if (photos.length === 1 && picked !== null) form.append("face", String(picked));
    if (collection.value) form.append("collection", collection.value);
    if (from.value) form.append("captured_from", from.value);
    if (to.value) form.append("captured_to", to.value);
    if (source.value.trim()) form.append("source_prefix", source.value.trim());
    if (flagged.checked) form.append("include_flagged", "true");
    busy = true;
    setSubmit();
    progress(photos.length === 1 ? `Searching face ${picked + 1}…` : `Searching ${photos.length} photos as one query…`);
    try {
      const out = await api("POST", `/cases/${encodeURIComponent(c.number)}/searches`, { form });
      stopTimer();
      app.go(`#/searches/${out.search_id}`);
    } catch (err) {
      // a face refused for its quality keeps the way out: the override request (or its state)
      const one = photos.length === 1 ? photos[0] : null;
      const f = one && one.found ? one.found.faces.find((x) => x.index === picked) : null;
      const override = f && f.below_minimum && err.status === 403 ? overridePanel(app, c, one.found, f) : null;
      say(h("div", { class: "error-box probe-problem", role: "alert" }, h("p", {}, err.message), override), { alert: true });
    } finally {
      busy = false;
      setSubmit();
    }
  }

  const form = h(
    "form",
    {
      class: "stack",
      id: "search-form",
      on: {
        submit: (e) => {
          e.preventDefault();
          run();
        },
      },
    },
    dropzone,
    field("Number of candidates (k)", k, "Capped by the policy."),
    h("div", { class: "actions" }, submit, h("a", { href: `#/cases/${encodeURIComponent(c.number)}` }, "Back to the case")),
    status,
    h(
      "details",
      { class: "search-filters", open: true },
      h("summary", {}, "Filters: collection, capture dates, source"),
      h(
        "fieldset",
        {},
        h("legend", {}, "Filters"),
        field("Collection", collection),
        field("Captured from", from),
        field("Captured to", to),
        field("Source address starts with", source),
        h("div", { class: "check" }, flagged, h("label", { for: flagged.id }, "Include faces flagged by quality checks")),
      ),
    ),
  );

  return h(
    "section",
    {},
    h("h1", {}, `New search in case ${c.number}`),
    h("p", { class: "statement" }, "Results are investigative leads, not identifications: every candidate needs independent confirmation by a trained person."),
    h("div", { class: "probe-preview search-layout" }, form, h("div", { class: "probe-panel" }, preview, picker)),
  );
}

/** Why a face would be refused for its quality, and what to do, in words. */
export function refusalWords(f, minimum) {
  const what = f.causes.length ? f.causes.join(", ") : "the face is turned to the side (a profile), too small or too blurred for a reliable search";
  return h(
    "p",
    {},
    `Face ${f.index + 1} would be refused: ${what}; quality ${f.quality.toFixed(2)}, the policy asks at least ${minimum.toFixed(2)}. ` +
      "Try a more frontal or sharper photo, or a larger crop of the face, or ask a supervisor of the case for a quality override.",
  );
}
