// The administrators' gallery browser: one collection's images page by page, their provenance
// and faces (crops, quality, flags with the reason in words), a "flagged faces only" filter,
// and the deletion of a face or an image (confirmed, with a reason the audit log keeps).
import { api } from "../api.js";
import { confirmDialog, field, formatTime, h, input, replace } from "../dom.js";
import { errorBox, withButton } from "./common.js";

const PAGE = 20;

function route(name, flagged, offset) {
  const q = new URLSearchParams();
  if (flagged) q.set("flagged", "1");
  if (offset) q.set("offset", String(offset));
  const tail = q.toString();
  return `#/admin/collections/${encodeURIComponent(name)}${tail ? `?${tail}` : ""}`;
}

/** #/admin/collections/<name>?flagged=1&offset=N */
export async function galleryView(app, [name], query) {
  // the filter and the page change in place (the reason typed is kept), the address follows
  let flagged = query.get("flagged") === "1";
  let offset = Math.max(0, Number.parseInt(query.get("offset") || "0", 10) || 0);
  const listBox = h("div", { id: "gallery-images", "aria-live": "polite", tabindex: "-1" });
  const reason = input("reason", { maxlength: "5000", autocomplete: "off" });
  const onlyFlagged = h("input", { type: "checkbox", id: "only-flagged", checked: flagged });
  onlyFlagged.addEventListener("change", () => move(onlyFlagged.checked, 0));

  function move(toFlagged, toOffset) {
    flagged = toFlagged;
    offset = toOffset;
    history.replaceState(null, "", route(name, flagged, offset));
    return load();
  }

  async function load() {
    let page;
    try {
      page = await api("GET", `/collections/${encodeURIComponent(name)}/images`, { query: { flagged: flagged ? "true" : "", limit: PAGE, offset } });
    } catch (err) {
      replace(listBox, errorBox(err));
      return;
    }
    replace(listBox, pager(page), imagesList(page.items), page.total > PAGE ? pager(page) : null);
  }

  function pager(page) {
    const first = page.total ? page.offset + 1 : 0;
    const last = page.offset + page.items.length;
    const what = flagged ? "images with flagged faces" : "images";
    const button = (label, to) => h("button", { type: "button", class: "secondary", on: { click: () => move(flagged, to) } }, label);
    const prev = page.offset > 0 ? button("Previous page", Math.max(0, page.offset - PAGE)) : null;
    const next = last < page.total ? button("Next page", page.offset + PAGE) : null;
    return h("p", { class: "pager" }, h("span", { class: "pager-count" }, page.total ? `${what} ${first}–${last} of ${page.total}` : `No ${what}.`), prev, next);
  }

  async function remove(button, what, path, message) {
    const why = reason.value.trim();
    if (!why) {
      app.flash("Give the reason for the deletion first (it is kept in the audit log).", true);
      reason.focus();
      return;
    }
    if (!(await confirmDialog(message, `Delete ${what}`, button))) return;
    await withButton(app, button, async () => {
      const done = await api("POST", path, { json: { reason: why } });
      app.flash(`Deleted ${what}: ${done.removed} face${done.removed === 1 ? "" : "s"} removed from the gallery and from search.`);
      await load();
      listBox.focus({ preventScroll: true }); // the button is gone: focus stays in the list
    });
  }

  function faceFigure(image, face) {
    const label = `face ${face.face_index + 1} of ${fileName(image.file)}`;
    const del = h("button", { type: "button", class: "secondary", "aria-label": `Delete ${label}` }, "Delete face");
    del.addEventListener("click", () => remove(del, label, `/faces/${face.id}/delete`,
      `Delete ${label}? It is removed from the gallery and from search at once; this cannot be undone and is logged with your reason.`));
    return h(
      "li",
      { class: "browse-face", dataset: { face: String(face.id) } },
      face.has_crop ? h("img", { src: `/api/v1/faces/${face.id}/crop`, alt: `Crop of ${label}`, loading: "lazy" }) : h("div", { class: "no-crop muted" }, "no crop stored"),
      h("div", {}, `Quality ${face.quality.toFixed(2)}`),
      face.searchable
        ? h("div", { class: "searchable" }, "Searchable")
        : h("div", { class: "flagged" }, "Kept out of search:", h("ul", { class: "reasons" }, face.reasons.map((r) => h("li", { dataset: { flag: r.flag } }, r.reason)))),
      del,
    );
  }

  function imagesList(items) {
    if (!items.length) return null;
    return h("ul", { class: "browse-images" }, items.map((image) => {
      const file = fileName(image.file);
      const delImage = h("button", { type: "button", class: "danger", "aria-label": `Delete image ${file}` }, "Delete image");
      delImage.addEventListener("click", () => remove(delImage, `image ${file}`, `/images/${image.id}/delete`,
        `Delete the image ${file} with its ${image.face_count} face${image.face_count === 1 ? "" : "s"} and provenance? They are removed from the gallery and from search at once; this cannot be undone and is logged with your reason.`));
      const full = image.faces.length ? h("a", { href: `/api/v1/faces/${image.faces[0].id}/image`, target: "_blank", rel: "noopener" }, "Open the full image (logged)") : null;
      const shown = image.faces.length === image.face_count ? `${image.face_count}` : `${image.faces.length} flagged of ${image.face_count}`;
      return h(
        "li",
        { class: "browse-image card", dataset: { image: String(image.id) } },
        h("h2", {}, file),
        h("dl", { class: "details" },
          h("dt", {}, "File"), h("dd", { class: "path" }, image.file),
          image.provenance.map((p) => [
            p.title ? [h("dt", {}, "Title"), h("dd", {}, p.title)] : null,
            p.source_url ? [h("dt", {}, "Source"), h("dd", { class: "path" }, p.source_url)] : null,
            p.page_url ? [h("dt", {}, "Page"), h("dd", { class: "path" }, p.page_url)] : null,
            h("dt", {}, "Captured"), h("dd", {}, p.captured_at ? formatTime(p.captured_at) : "not known"),
            h("dt", {}, "Ingested"), h("dd", {}, formatTime(p.ingested_at)),
          ]),
          h("dt", {}, "Size"), h("dd", {}, `${image.width} × ${image.height} ${image.format}`),
          h("dt", {}, "Faces"), h("dd", {}, shown),
        ),
        image.faces.length ? h("ul", { class: "browse-faces" }, image.faces.map((f) => faceFigure(image, f))) : h("p", { class: "muted" }, "No face found in this image."),
        h("div", { class: "actions" }, full, delImage),
      );
    }));
  }

  await load();
  return h(
    "section",
    { class: "gallery-browser" },
    h("p", {}, h("a", { href: "#/admin/collections" }, "← All collections")),
    h("h1", {}, `Collection ${name}`),
    h(
      "div",
      { class: "card browse-controls" },
      h("div", { class: "check" }, onlyFlagged, h("label", { for: "only-flagged" }, "Flagged faces only (kept out of search, with the reason)")),
      field("Reason for deletions", reason, "Required before deleting; kept in the audit log with each deletion."),
    ),
    listBox,
  );
}

function fileName(path) {
  const parts = String(path).split(/[/!\\]/);
  return parts[parts.length - 1] || String(path);
}
