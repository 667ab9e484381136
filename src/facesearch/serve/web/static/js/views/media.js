// A case's seized material (its media sets), for the case's investigators and supervisors: the
// sets and their counts, what known-image elimination set aside and why, the persons found
// (clusters) with each face's picture, the cross-case alerts, and a search of the gallery with
// a person's best faces. For investigator wellbeing a face's picture comes from the server
// greyscale and blurred outside the face box; the picture as it is only after an explicit
// reveal, which the server records in the audit log before sending it.
import { api } from "../api.js";
import { formatTime, h, replace, table } from "../dom.js";
import { statusBadge, withButton } from "./common.js";

const FACES_SHOWN = 12; // per person; the rest are counted, not fetched

const STATUS_LABELS = {
  faces: "with faces",
  no_face: "no face",
  eliminated: "eliminated (known)",
  failed: "failed",
};

/** "1:02.350" for 62 350 ms: the time of a video face. */
export function videoTime(ms) {
  const minutes = Math.floor(ms / 60000);
  const seconds = ((ms % 60000) / 1000).toFixed(3).padStart(6, "0");
  return `${minutes}:${seconds}`;
}

function counts(byStatus) {
  const parts = Object.entries(byStatus || {}).map(([k, n]) => `${n} ${STATUS_LABELS[k] || k}`);
  return parts.length ? parts.join(", ") : "—";
}

export async function mediaView(app, [number]) {
  const path = `/cases/${encodeURIComponent(number)}`;
  const c = await api("GET", path);
  const [sets, summary, clusters, alerts] = await Promise.all([
    api("GET", `${path}/media`),
    api("GET", `${path}/media/summary`),
    api("GET", `${path}/media/clusters`),
    api("GET", `${path}/media/alerts`),
  ]);
  const urls = [];
  app.cleanup.push(() => urls.forEach((u) => URL.revokeObjectURL(u)));
  const canSearch = app.has("investigator") && c.status === "open" && (c.assigned || []).includes(app.me.username);
  return h(
    "section",
    { class: "media-view" },
    h("h1", {}, `Media of case ${c.number} `, statusBadge(c.status)),
    h("p", {}, h("a", { href: `#${path}` }, `Back to case ${c.number}`)),
    h(
      "p",
      { class: "statement" },
      "Face pictures are shown greyscale and blurred outside the face box. Revealing a picture in colour is recorded in the audit log.",
    ),
    setsSection(sets, summary),
    eliminatedSection(summary),
    alertsSection(alerts),
    personsSection(app, c, clusters, canSearch, urls),
  );
}

function setsSection(sets, summary) {
  const rows = sets.map((s) =>
    h(
      "tr",
      {},
      h("td", {}, s.name),
      h("td", {}, `${s.created_by}, ${formatTime(s.created_at)}`),
      h("td", { class: "num" }, String(s.files)),
      h("td", {}, counts(s.files_by_status)),
      h("td", { class: "num" }, String(s.imports.length)),
    ),
  );
  return h(
    "section",
    {},
    h("h2", {}, "Media sets"),
    rows.length
      ? [
          table(["Set", "Created", { label: "Files", num: true }, "By status", { label: "Imports", num: true }], rows, "Media sets"),
          h(
            "p",
            { id: "media-totals" },
            `${summary.files} files, ${summary.faces} faces (${summary.faces_flagged} flagged), ${summary.clusters} persons (${summary.clusters_named} named, ${summary.clusters_hidden} hidden).`,
          ),
        ]
      : h("p", { class: "muted" }, "No media set yet. Media is imported with the CLI: facesearch media import PATH --case CASE."),
  );
}

function countTable(heading, counted, caption) {
  const rows = Object.entries(counted || {})
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => h("tr", {}, h("td", {}, k), h("td", { class: "num" }, String(n))));
  return rows.length ? table([heading, { label: "Files", num: true }], rows, caption) : null;
}

function eliminatedSection(summary) {
  return h(
    "section",
    { id: "eliminated" },
    h("h2", {}, "Eliminated (known material)"),
    summary.eliminated
      ? [
          h("p", {}, `${summary.eliminated} file${summary.eliminated === 1 ? "" : "s"} matched a known hash set and ${summary.eliminated === 1 ? "was" : "were"} not searched for faces.`),
          h("div", { class: "charts" }, [
            countTable("Category", summary.eliminated_by_category, "Eliminated files by category"),
            countTable("Hash set", summary.eliminated_by_hash_set, "Eliminated files by hash set"),
            countTable("Match", summary.eliminated_by_match, "Eliminated files by kind of match"),
          ]),
        ]
      : h("p", { class: "muted" }, "No file was eliminated."),
  );
}

function alertsSection(alerts) {
  const rows = alerts.map((a) =>
    h(
      "tr",
      {},
      h("td", {}, a.other_case),
      h("td", {}, a.supervisor ? `${a.supervisor_name} (${a.supervisor})` : "no supervisor recorded"),
      h("td", {}, a.faces.map((f) => `face ${f}`).join(", ")),
      h("td", {}, formatTime(a.last_at)),
    ),
  );
  return h(
    "section",
    { id: "alerts" },
    h("h2", {}, "Cross-case alerts"),
    h("p", {}, "A face of this case possibly matches a face in another case. Nothing of the other case is shown: contact its supervisor."),
    rows.length
      ? table(["Other case", "Its supervisor", "Faces of this case", "Last seen"], rows, "Cross-case alerts")
      : h("p", { class: "muted" }, "No cross-case alert."),
  );
}

function personsSection(app, c, clusters, canSearch, urls) {
  return h(
    "section",
    { id: "persons" },
    h("h2", {}, `Persons found (${clusters.length})`),
    clusters.length
      ? clusters.map((cl) => person(app, c, cl, canSearch, urls))
      : h("p", { class: "muted" }, "No person yet: faces are grouped with facesearch media cluster CASE."),
  );
}

function person(app, c, cl, canSearch, urls) {
  const label = cl.name ? `${cl.name} (person ${cl.cluster})` : `Person ${cl.cluster}`;
  const headingId = `person-${cl.cluster}`;
  const search = canSearch
    ? h("button", { type: "button", class: "search-person" }, `Search the gallery with ${label}`)
    : null;
  if (search) {
    search.addEventListener("click", () =>
      withButton(app, search, async () => {
        app.flash(`Searching the gallery with the best faces of ${label}…`);
        const out = await api("POST", `/cases/${encodeURIComponent(c.number)}/media/clusters/${cl.cluster}/searches`, { json: {} });
        app.go(`#/searches/${out.search_id}`);
      }),
    );
  }
  const shown = cl.faces.slice(0, FACES_SHOWN);
  const rest = cl.faces.length - shown.length;
  return h(
    "article",
    { class: "card person", "aria-labelledby": headingId, dataset: { cluster: String(cl.cluster) } },
    h("h3", { id: headingId }, label, ` · ${cl.faces.length} face${cl.faces.length === 1 ? "" : "s"}`, cl.reviewed ? " · reviewed" : ""),
    search ? h("div", { class: "actions" }, search) : null,
    h("ul", { class: "grid" }, shown.map((f) => faceTile(app, c, f, urls))),
    rest > 0 ? h("p", { class: "muted" }, `${rest} more face${rest === 1 ? "" : "s"} of this person (facesearch media clusters ${c.number}).`) : null,
  );
}

function faceTile(app, c, f, urls) {
  const where = f.frame_ms === null || f.frame_ms === undefined ? f.file : `${f.file} at ${videoTime(f.frame_ms)}`;
  const img = h("img", { alt: `Face ${f.face_id} in ${where}, greyscale and blurred outside the face box`, dataset: { state: "loading" } });
  const reveal = h("button", { type: "button", class: "secondary" }, `Reveal face ${f.face_id} (logged)`);
  const base = `/cases/${encodeURIComponent(c.number)}/media/faces/${f.face_id}`;
  const show = (blob, state) => {
    const u = URL.createObjectURL(blob);
    urls.push(u);
    img.src = u;
    img.dataset.state = state;
  };
  api("GET", `${base}/picture`, { blob: true })
    .then((blob) => show(blob, "blurred"))
    .catch((err) => {
      img.dataset.state = "error";
      img.alt = `The picture of face ${f.face_id} cannot be shown: ${err.message}`;
      reveal.disabled = true;
    });
  reveal.addEventListener("click", () =>
    withButton(app, reveal, async () => {
      show(await api("POST", `${base}/reveal`, { blob: true }), "revealed");
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
    h("p", { class: "meta" }, h("span", {}, f.file), f.frame_ms === null || f.frame_ms === undefined ? null : h("span", {}, videoTime(f.frame_ms))),
    reveal,
  );
}
