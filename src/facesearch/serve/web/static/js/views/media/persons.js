// The persons found, as a grid of cards (best face, name, number of faces); a card opens in
// place (full width) to its faces, a page at a time, its review controls and the search of the
// gallery with it. Faces' pictures are fetched only when a person is opened, drawn by the
// server as the user's wellbeing setting asks; the picture as it is only after a reveal, which
// the server records in the audit log before sending it.
import { api } from "../../api.js";
import { h, replace } from "../../dom.js";
import { withButton } from "../common.js";
import { reviewControls, tick } from "./review.js";
import { facesCount, label } from "./sections.js";
import { isOpen, setOpen, shownAs, wellbeingOf } from "./state.js";

const FACES_PAGE = 12; // faces shown per page of an opened person

/** "1:02.350" for 62 350 ms: the time of a video face. */
export function videoTime(ms) {
  const minutes = Math.floor(ms / 60000);
  const seconds = ((ms % 60000) / 1000).toFixed(3).padStart(6, "0");
  return `${minutes}:${seconds}`;
}

const hasTime = (f) => f.frame_ms !== null && f.frame_ms !== undefined;

/** ctx: { app, c, clusters, canSearch, review, urls } */
export function personsSection(ctx) {
  const { clusters, review } = ctx;
  return h(
    "section",
    { id: "persons" },
    h("h2", {}, `Persons found (${clusters.length})`),
    clusters.length ? h("p", {}, "Largest first. Open a person to see their faces and review them. A name, a merge, a split or a move is kept when the faces are grouped again.") : null,
    clusters.length && review ? review.noteField : null,
    clusters.length
      ? h("ul", { class: "person-grid" }, clusters.map((cl) => personCard(ctx, cl)))
      : h("p", { class: "muted" }, "No person yet: faces are grouped when media are uploaded, or with facesearch media cluster CASE."),
  );
}

function picture(ctx, path, img, onError) {
  return api("GET", path, { blob: true })
    .then((blob) => {
      const u = URL.createObjectURL(blob);
      ctx.urls.push(u);
      img.src = u;
      return u;
    })
    .catch((err) => {
      img.dataset.state = "error";
      img.alt = `The picture cannot be shown: ${err.message}`;
      if (onError) onError(err);
    });
}

function personCard(ctx, cl) {
  const { c } = ctx;
  const key = `person-${cl.cluster}`;
  const headingId = `person-${cl.cluster}`;
  const bodyId = `person-${cl.cluster}-faces`;
  const best = cl.best_face ?? (cl.faces[0] && cl.faces[0].face_id);
  const wb = wellbeingOf(ctx.app);
  const img = h("img", { class: "best-face", alt: `Best face of ${label(cl)}, ${wb.greyscale ? "greyscale" : "in colour"}`, dataset: { state: "loading" } });
  if (best !== undefined && best !== null) {
    picture(ctx, `/cases/${encodeURIComponent(c.number)}/media/faces/${best}/picture?crop=true`, img).then(() => {
      if (img.dataset.state === "loading") img.dataset.state = "shown";
    });
  }
  const toggle = h("button", { type: "button", class: "person-toggle", "aria-expanded": "false", "aria-controls": bodyId }, label(cl));
  const body = h("div", { class: "person-body", id: bodyId, hidden: true });
  const cell = h(
    "li",
    { class: "person-cell" },
    h(
      "article",
      { class: "card person", "aria-labelledby": headingId, dataset: { cluster: String(cl.cluster) } },
      h(
        "div",
        { class: "person-head" },
        img,
        h("div", {}, h("h3", { id: headingId }, toggle), h("p", { class: "meta" }, facesCount(cl.faces.length), cl.reviewed ? " · reviewed" : "")),
      ),
      body,
    ),
  );
  let built = false;
  const setShown = (open) => {
    if (open && !built) {
      built = true;
      replace(body, personBody(ctx, cl));
    }
    body.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    cell.classList.toggle("open", open);
    setOpen(c.number, key, open);
  };
  toggle.addEventListener("click", () => setShown(body.hidden));
  if (isOpen(c.number, key, false)) setShown(true);
  return cell;
}

function personBody(ctx, cl) {
  const { app, c, clusters, canSearch, review } = ctx;
  const search = canSearch ? h("button", { type: "button", class: "search-person" }, `Search the gallery with ${label(cl)}`) : null;
  if (search) {
    search.addEventListener("click", () =>
      withButton(app, search, async () => {
        app.flash(`Searching the gallery with the best faces of ${label(cl)}…`);
        const out = await api("POST", `/cases/${encodeURIComponent(c.number)}/media/clusters/${cl.cluster}/searches`, { json: {} });
        app.go(`#/searches/${out.search_id}`);
      }),
    );
  }
  const grid = h("ul", { class: "grid faces" });
  const more = h("button", { type: "button", class: "secondary more-faces" });
  let shown = 0;
  const showMore = () => {
    const next = cl.faces.slice(shown, shown + FACES_PAGE);
    grid.append(...next.map((f) => faceTile(ctx, f)));
    shown += next.length;
    const rest = cl.faces.length - shown;
    more.hidden = rest <= 0;
    more.textContent = `Show ${Math.min(rest, FACES_PAGE)} more face${rest === 1 ? "" : "s"} of ${label(cl)} (${rest} not shown)`;
  };
  more.addEventListener("click", showMore);
  showMore();
  return [
    search ? h("div", { class: "actions" }, search) : null,
    review ? reviewControls(app, cl, clusters, review) : null,
    grid,
    more,
  ];
}

function faceTile(ctx, f) {
  const { app, c, review } = ctx;
  const wb = wellbeingOf(app);
  const where = hasTime(f) ? `${f.file} at ${videoTime(f.frame_ms)}` : f.file;
  const img = h("img", { alt: `Face ${f.face_id} in ${where}, ${shownAs(wb)}`, dataset: { state: "loading" } });
  const reveal = h("button", { type: "button", class: "secondary" }, `Reveal face ${f.face_id} (logged)`);
  const base = `/cases/${encodeURIComponent(c.number)}/media/faces/${f.face_id}`;
  picture(ctx, `${base}/picture`, img, () => {
    reveal.disabled = true;
  }).then(() => {
    if (img.dataset.state === "loading") img.dataset.state = wb.blur_outside_face ? "blurred" : "shown";
  });
  reveal.addEventListener("click", () =>
    withButton(app, reveal, async () => {
      const blob = await api("POST", `${base}/reveal`, { blob: true });
      const u = URL.createObjectURL(blob);
      ctx.urls.push(u);
      img.src = u;
      img.dataset.state = "revealed";
      img.alt = `Face ${f.face_id} in ${where}, revealed`;
      replace(reveal, `Face ${f.face_id} revealed`);
      app.flash(`Face ${f.face_id} revealed; the reveal is recorded in the audit log.`);
    }).then(() => {
      if (img.dataset.state === "revealed") reveal.disabled = true;
    }),
  );
  return h(
    "li",
    { class: "candidate media-face", dataset: { face: String(f.face_id) } },
    img,
    h("p", { class: "meta" }, h("span", {}, f.file), hasTime(f) ? h("span", {}, videoTime(f.frame_ms)) : null),
    reveal,
    review ? tick(f.face_id, review) : null,
  );
}
