import { all, api } from "../api.js";
import { field, h, input, replace, select } from "../dom.js";
import { errorBox } from "./common.js";

/**
 * A new search in a case: drop or choose a probe, filters and k, then the results; when the
 * probe shows several faces, a face picker to search the one that matters.
 */
export async function newSearchView(app, [number]) {
  const c = await api("GET", `/cases/${encodeURIComponent(number)}`);
  const collections = await all("/collections");
  let probe = null; // the File chosen (the first, when several photos of one person are)
  let extra = []; // the other photos: searched with the first as one query
  let bitmap = null;

  const fileInput = h("input", { type: "file", name: "probe", accept: "image/*", id: "probe-file", multiple: true });
  const dropzone = h(
    "div",
    { class: "dropzone", id: "dropzone" },
    h("p", {}, "Drag a probe photo here, or "),
    field("Choose a probe photo", fileInput),
    h("p", { class: "muted", id: "probe-name", "aria-live": "polite" }, "No photo chosen."),
  );
  const preview = h("canvas", { id: "probe-canvas", class: "hidden", role: "img", "aria-label": "The probe photo" });
  const picker = h("div", { id: "face-picker", "aria-live": "polite" });
  const status = h("div", { role: "status", "aria-live": "polite" });

  const collection = select("collection", [["", "all collections"], ...collections.map((x) => [x.name, `${x.name} (${x.faces} faces)`])]);
  const from = input("captured_from", { type: "date" });
  const to = input("captured_to", { type: "date" });
  const source = input("source_prefix", { placeholder: "https://example.org/" });
  const k = input("k", { type: "number", min: 1, max: 200, value: "20", required: true });
  const flagged = h("input", { type: "checkbox", name: "include_flagged", id: "include-flagged" });
  const submit = h("button", { type: "submit", id: "run-search" }, "Search");

  ["dragenter", "dragover"].forEach((ev) =>
    dropzone.addEventListener(ev, (e) => {
      e.preventDefault();
      dropzone.classList.add("dragover");
    }),
  );
  ["dragleave", "drop"].forEach((ev) => dropzone.addEventListener(ev, () => dropzone.classList.remove("dragover")));
  dropzone.addEventListener("drop", (e) => {
    e.preventDefault();
    const file = e.dataTransfer.files[0];
    if (!file) return;
    fileInput.files = e.dataTransfer.files; // the chooser shows the dropped file too
    choose(file, Array.from(e.dataTransfer.files).slice(1, 20));
  });
  fileInput.addEventListener("change", () => fileInput.files[0] && choose(fileInput.files[0], Array.from(fileInput.files).slice(1, 20)));

  async function choose(file, others = []) {
    probe = file;
    extra = others;
    replace(picker);
    replace(status);
    dropzone.querySelector("#probe-name").textContent = extra.length
      ? `${extra.length + 1} photos of one person, searched as one query: ${[file, ...extra].map((f) => f.name).join(", ")}`
      : `${file.name} (${Math.round(file.size / 1024)} KiB)`;
    try {
      bitmap = await createImageBitmap(file);
      drawProbe(preview, bitmap, [], null);
      preview.classList.remove("hidden");
    } catch {
      bitmap = null;
      preview.classList.add("hidden");
      replace(status, errorBox(new Error("This file cannot be shown as an image; the server will say whether it can read it.")));
    }
  }

  async function run(face) {
    if (!probe) {
      replace(status, errorBox(new Error("Choose a probe photo first.")));
      fileInput.focus();
      return;
    }
    const form = new FormData();
    form.append("probe", probe, probe.name || "probe");
    for (const other of extra) form.append("probe", other, other.name || "probe");
    form.append("k", k.value);
    if (face !== null && face !== undefined) form.append("face", String(face));
    if (collection.value) form.append("collection", collection.value);
    if (from.value) form.append("captured_from", from.value);
    if (to.value) form.append("captured_to", to.value);
    if (source.value.trim()) form.append("source_prefix", source.value.trim());
    if (flagged.checked) form.append("include_flagged", "true");
    submit.disabled = true;
    replace(status, h("p", {}, "Searching…"));
    try {
      const out = await api("POST", `/cases/${encodeURIComponent(c.number)}/searches`, { form });
      const faces = out.probe_faces || [];
      if (faces.length > 1 && (face === null || face === undefined)) {
        replace(status, h("p", {}, `The probe shows ${faces.length} faces. Search ${out.search_id} used face ${out.face + 1}.`));
        showPicker(out);
      } else {
        app.go(`#/searches/${out.search_id}`);
      }
    } catch (err) {
      replace(status, errorBox(err));
    } finally {
      submit.disabled = false;
    }
  }

  function showPicker(out) {
    const faces = out.probe_faces;
    if (bitmap) drawProbe(preview, bitmap, faces, out.face);
    const buttons = faces.map((f) => {
      const thumb = h("canvas", { width: 96, height: 96 });
      if (bitmap) drawCrop(thumb, bitmap, f.bbox);
      const searched = f.index === out.face;
      const label = `Face ${f.index + 1}${f.index === 0 ? " (largest)" : ""}, quality ${Number(f.quality).toFixed(2)}${f.flags?.length ? `, flagged: ${f.flags.join(", ")}` : ""}`;
      return h(
        "button",
        {
          type: "button",
          class: "secondary face-choice",
          "aria-pressed": searched ? "true" : "false",
          "aria-label": searched ? `${label}: searched` : `Search ${label}`,
          dataset: { face: String(f.index), bbox: f.bbox.join(",") },
          on: { click: () => (searched ? app.go(`#/searches/${out.search_id}`) : run(f.index)) },
        },
        thumb,
        `Face ${f.index + 1}`,
      );
    });
    replace(
      picker,
      h("h2", {}, "Pick the face to search"),
      h("p", {}, "Each face is numbered on the photo. Choosing another face runs a new search (logged)."),
      h("div", { class: "face-picker" }, buttons),
      h("p", {}, h("a", { href: `#/searches/${out.search_id}`, id: "open-results" }, `See the results for face ${out.face + 1} (search ${out.search_id})`)),
    );
  }

  const form = h(
    "form",
    { class: "stack", id: "search-form", on: { submit: (e) => { e.preventDefault(); run(null); } } },
    dropzone,
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
    field("Number of candidates (k)", k, "Capped by the policy."),
    h("div", { class: "actions" }, submit, h("a", { href: `#/cases/${encodeURIComponent(c.number)}` }, "Back to the case")),
  );

  return h(
    "section",
    {},
    h("h1", {}, `New search in case ${c.number}`),
    h("p", { class: "statement" }, "Results are investigative leads, not identifications: every candidate needs independent confirmation by a trained person."),
    h("div", { class: "probe-preview" }, form, h("div", {}, preview, picker)),
    status,
  );
}

/** Draw the probe scaled to at most 480 px, with numbered boxes for its faces. */
function drawProbe(canvas, bitmap, faces, searched) {
  const scale = Math.min(1, 480 / Math.max(bitmap.width, bitmap.height));
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  faces.forEach((f) => {
    const [x, y, w, hgt] = f.bbox.map((v) => v * scale);
    ctx.lineWidth = 3;
    ctx.strokeStyle = f.index === searched ? "#ffbf00" : "#ffffff";
    ctx.strokeRect(x, y, w, hgt);
    ctx.fillStyle = "#1a1a1a";
    ctx.fillRect(x, Math.max(0, y - 20), 22, 20);
    ctx.fillStyle = "#ffffff";
    ctx.font = "bold 15px sans-serif";
    ctx.fillText(String(f.index + 1), x + 6, Math.max(15, y - 5));
  });
}

function drawCrop(canvas, bitmap, [x, y, w, hgt]) {
  const side = Math.max(w, hgt) * 1.3;
  const cx = x + w / 2;
  const cy = y + hgt / 2;
  canvas.getContext("2d").drawImage(bitmap, cx - side / 2, cy - side / 2, side, side, 0, 0, canvas.width, canvas.height);
}
