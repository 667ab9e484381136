// A case's seized material (its media sets), for the case's investigators and supervisors: the
// sets and their counts, what known-image elimination set aside and why, the persons found
// (clusters, largest first) with each face's picture, their review (name, hide, merge, split,
// move faces: each decision recorded and audited by the server), the cross-case alerts, and a
// search of the gallery with a person's best faces. For investigator wellbeing a face's picture
// comes from the server greyscale and blurred outside the face box; the picture as it is only
// after an explicit reveal, which the server records in the audit log before sending it.
// Hidden persons are listed without pictures.
import { api } from "../api.js";
import { field, formatTime, h, input, replace, table } from "../dom.js";
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
  const [sets, summary, everyone, alerts, decisions] = await Promise.all([
    api("GET", `${path}/media`),
    api("GET", `${path}/media/summary`),
    api("GET", `${path}/media/clusters`, { query: { include_hidden: true } }),
    api("GET", `${path}/media/alerts`),
    api("GET", `${path}/media/decisions`),
  ]);
  const urls = [];
  app.cleanup.push(() => urls.forEach((u) => URL.revokeObjectURL(u)));
  const assigned = app.has("investigator") && (c.assigned || []).includes(app.me.username);
  const canSearch = assigned && c.status === "open";
  const review = c.status === "open" && (assigned || app.has("supervisor")) ? reviewer(app, c) : null;
  const clusters = everyone.filter((cl) => !cl.hidden);
  const hidden = everyone.filter((cl) => cl.hidden);
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
    personsSection(app, c, clusters, canSearch, review, urls),
    hiddenSection(hidden, review),
    decisionsSection(decisions),
  );
}

const label = (cl) => (cl.name ? `${cl.name} (person ${cl.cluster})` : `Person ${cl.cluster}`);

/**
 * The review of the persons: one decision at a time, sent to the server, which records and
 * audits it; the page is then shown again as the server has it. `picked` holds the faces
 * ticked for a move or a split; `note` is kept with each decision.
 */
function reviewer(app, c) {
  const note = input("note", { maxlength: 2000, autocomplete: "off" });
  const r = {
    app,
    picked: new Set(),
    noteField: field("Note kept with each decision (optional)", note, "For example why two persons are one."),
    async decide(cluster, body, done) {
      const out = await api("POST", `/cases/${encodeURIComponent(c.number)}/media/clusters/${cluster}/decisions`, {
        json: { ...body, note: note.value.trim() },
      });
      app.go(window.location.hash); // the page as the server now has it
      app.flash(`${done(out)} Recorded in the audit log (decision ${out.decision_id}).`);
    },
  };
  return r;
}

function reviewControls(app, cl, clusters, review) {
  const who = label(cl);
  const name = input("name", { value: cl.name || "", maxlength: 200, autocomplete: "off", required: true });
  const save = h("button", { type: "submit" }, "Save name");
  const nameForm = h(
    "form",
    {
      class: "inline",
      on: {
        submit: (e) => {
          e.preventDefault();
          withButton(app, save, () =>
            review.decide(cl.cluster, { action: "name", name: name.value.trim() }, (o) => `Person ${o.cluster} named “${o.name}”.`),
          );
        },
      },
    },
    field(`Name of person ${cl.cluster}`, name),
    save,
  );
  const hide = h("button", { type: "button", class: "secondary" }, `Hide ${who}`);
  hide.addEventListener("click", () =>
    withButton(app, hide, () => review.decide(cl.cluster, { action: "hide" }, (o) => `Person ${o.cluster} hidden.`)),
  );
  const others = clusters.filter((x) => x.cluster !== cl.cluster);
  let mergeForm = null;
  if (others.length) {
    const other = h(
      "select",
      { name: "other" },
      others.map((x) => h("option", { value: String(x.cluster) }, `${label(x)}, ${x.faces.length} face${x.faces.length === 1 ? "" : "s"}`)),
    );
    const merge = h("button", { type: "submit" }, "Merge");
    mergeForm = h(
      "form",
      {
        class: "inline",
        on: {
          submit: (e) => {
            e.preventDefault();
            withButton(app, merge, () =>
              review.decide(cl.cluster, { action: "merge", other: Number(other.value) }, (o) => `Person ${o.merged} merged into person ${o.cluster}.`),
            );
          },
        },
      },
      field(`Merge into person ${cl.cluster} (the same person)`, other),
      merge,
    );
  }
  const mine = new Set(cl.faces.map((f) => f.face_id));
  const move = h("button", { type: "button", class: "secondary" }, `Move the ticked faces to person ${cl.cluster}`);
  move.addEventListener("click", () =>
    withButton(app, move, async () => {
      const faces = [...review.picked].filter((f) => !mine.has(f));
      if (!faces.length) throw new Error(`Tick faces of other persons first, then move them to person ${cl.cluster}.`);
      await review.decide(cl.cluster, { action: "move", faces }, (o) => `Faces ${o.faces.join(", ")} moved to person ${o.cluster}.`);
    }),
  );
  const split = h("button", { type: "button", class: "secondary" }, `Split the ticked faces off person ${cl.cluster}`);
  split.addEventListener("click", () =>
    withButton(app, split, async () => {
      const faces = [...review.picked].filter((f) => mine.has(f));
      if (!faces.length) throw new Error(`Tick faces of person ${cl.cluster} first, then split them off into a new person.`);
      await review.decide(cl.cluster, { action: "split", faces }, (o) => `Faces ${o.faces.join(", ")} split off person ${o.cluster} into person ${o.new_cluster}.`);
    }),
  );
  return h("div", { class: "review" }, nameForm, mergeForm, h("div", { class: "actions" }, move, split, hide));
}

function hiddenSection(hidden, review) {
  if (!hidden.length) return null;
  return h(
    "section",
    { id: "hidden-persons" },
    h("h2", {}, `Hidden persons (${hidden.length})`),
    h("p", {}, "Their pictures are not shown."),
    h(
      "ul",
      {},
      hidden.map((cl) => {
        const show = review ? h("button", { type: "button", class: "secondary" }, `Show person ${cl.cluster} again`) : null;
        if (show) {
          show.addEventListener("click", () =>
            withButton(review.app, show, () => review.decide(cl.cluster, { action: "show" }, (o) => `Person ${o.cluster} shown again.`)),
          );
        }
        return h("li", { dataset: { cluster: String(cl.cluster) } }, `${label(cl)}, ${cl.faces.length} face${cl.faces.length === 1 ? "" : "s"} `, show);
      }),
    ),
  );
}

function describeDecision(d) {
  switch (d.action) {
    case "name":
      return d.previous_name ? `named “${d.name}” (was “${d.previous_name}”)` : `named “${d.name}”`;
    case "hide":
      return "hidden";
    case "show":
      return "shown again";
    case "merge":
      return `person ${d.merged} merged in (faces ${d.faces.join(", ")})`;
    case "split":
      return `faces ${d.faces.join(", ")} split off into person ${d.new_cluster}`;
    case "move":
      return `faces ${d.faces.join(", ")} moved in${d.from_clusters.length ? ` from person ${d.from_clusters.join(", ")}` : ""}`;
    default:
      return d.action;
  }
}

function decisionsSection(decisions) {
  const rows = decisions
    .slice()
    .reverse()
    .map((d) =>
      h(
        "tr",
        { dataset: { decision: String(d.decision_id) } },
        h("td", {}, formatTime(d.at)),
        h("td", {}, d.actor),
        h("td", {}, `Person ${d.cluster}`),
        h("td", {}, describeDecision(d)),
        h("td", {}, d.note || "—"),
      ),
    );
  return h(
    "section",
    { id: "review-decisions" },
    h("h2", {}, `Review decisions (${decisions.length})`),
    rows.length
      ? table(["Time", "By", "Person", "Decision", "Note"], rows, "Review decisions")
      : h("p", { class: "muted" }, "No decision yet. Each one is recorded here and in the audit log, and kept when the faces are grouped again."),
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

function personsSection(app, c, clusters, canSearch, review, urls) {
  return h(
    "section",
    { id: "persons" },
    h("h2", {}, `Persons found (${clusters.length})`),
    clusters.length ? h("p", {}, "Largest first. A name, a merge, a split or a move is kept when the faces are grouped again.") : null,
    clusters.length && review ? review.noteField : null,
    clusters.length
      ? clusters.map((cl) => person(app, c, cl, clusters, canSearch, review, urls))
      : h("p", { class: "muted" }, "No person yet: faces are grouped with facesearch media cluster CASE."),
  );
}

function person(app, c, cl, clusters, canSearch, review, urls) {
  const headingId = `person-${cl.cluster}`;
  const search = canSearch
    ? h("button", { type: "button", class: "search-person" }, `Search the gallery with ${label(cl)}`)
    : null;
  if (search) {
    search.addEventListener("click", () =>
      withButton(app, search, async () => {
        app.flash(`Searching the gallery with the best faces of ${label(cl)}…`);
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
    h("h3", { id: headingId }, label(cl), ` · ${cl.faces.length} face${cl.faces.length === 1 ? "" : "s"}`, cl.reviewed ? " · reviewed" : ""),
    search ? h("div", { class: "actions" }, search) : null,
    review ? reviewControls(app, cl, clusters, review) : null,
    h("ul", { class: "grid" }, shown.map((f) => faceTile(app, c, f, review, urls))),
    rest > 0 ? h("p", { class: "muted" }, `${rest} more face${rest === 1 ? "" : "s"} of this person (facesearch media clusters ${c.number}).`) : null,
  );
}

function faceTile(app, c, f, review, urls) {
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
    review ? tick(f.face_id, review) : null,
  );
}

function tick(face, review) {
  const box = h("input", { type: "checkbox", name: "face", value: String(face), checked: review.picked.has(face) });
  box.addEventListener("change", () => (box.checked ? review.picked.add(face) : review.picked.delete(face)));
  return h("label", { class: "tick" }, box, ` Tick face ${face} (move or split)`);
}
