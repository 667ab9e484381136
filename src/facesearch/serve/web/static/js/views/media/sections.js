// The Media page's sections that are not persons: media sets, eliminated (known) material,
// cross-case alerts, hidden persons and the review decisions; each a disclosure (<details>)
// whose open state is kept while the app runs.
import { formatTime, h, table } from "../../dom.js";
import { withButton } from "../common.js";
import { isOpen, setOpen } from "./state.js";

const STATUS_LABELS = {
  faces: "with faces",
  no_face: "no face",
  eliminated: "eliminated (known)",
  failed: "failed",
};

export const label = (cl) => (cl.name ? `${cl.name} (person ${cl.cluster})` : `Person ${cl.cluster}`);
export const facesCount = (n) => `${n} face${n === 1 ? "" : "s"}`;

/** A collapsible section: <details id> with the heading in its <summary>. */
export function collapsible(number, id, heading, openByDefault, ...content) {
  const details = h(
    "details",
    { id, class: "media-section", open: isOpen(number, id, openByDefault) || null },
    h("summary", {}, h("h2", {}, heading)),
    ...content,
  );
  details.addEventListener("toggle", () => setOpen(number, id, details.open));
  return details;
}

function counts(byStatus) {
  const parts = Object.entries(byStatus || {}).map(([k, n]) => `${n} ${STATUS_LABELS[k] || k}`);
  return parts.length ? parts.join(", ") : "—";
}

export function setsSection(number, sets, summary, notes) {
  const rows = sets.map((s) =>
    h(
      "tr",
      {},
      h("td", {}, s.name),
      h("td", {}, `${s.created_by}, ${formatTime(s.created_at)}`),
      h("td", {}, notes.get(s.name) || "—"),
      h("td", { class: "num" }, String(s.files)),
      h("td", {}, counts(s.files_by_status)),
      h("td", { class: "num" }, String(s.imports.length)),
    ),
  );
  return collapsible(
    number,
    "media-sets",
    `Media sets (${sets.length})`,
    true,
    rows.length
      ? [
          table(["Set", "Created", "Source and legal basis", { label: "Files", num: true }, "By status", { label: "Imports", num: true }], rows, "Media sets"),
          h(
            "p",
            { id: "media-totals" },
            `${summary.files} files, ${summary.faces} faces (${summary.faces_flagged} flagged), ${summary.clusters} persons (${summary.clusters_named} named, ${summary.clusters_hidden} hidden).`,
          ),
        ]
      : h("p", { class: "muted" }, "No media set yet. Upload media above, or import it with the CLI: facesearch media import PATH --case CASE."),
  );
}

function countTable(heading, counted, caption) {
  const rows = Object.entries(counted || {})
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => h("tr", {}, h("td", {}, k), h("td", { class: "num" }, String(n))));
  return rows.length ? table([heading, { label: "Files", num: true }], rows, caption) : null;
}

export function eliminatedSection(number, summary) {
  const n = summary.eliminated;
  return collapsible(
    number,
    "eliminated",
    `Eliminated, known material (${n})`,
    false,
    n
      ? [
          h("p", {}, `${n} file${n === 1 ? "" : "s"} matched a known hash set and ${n === 1 ? "was" : "were"} not searched for faces.`),
          h("div", { class: "charts" }, [
            countTable("Category", summary.eliminated_by_category, "Eliminated files by category"),
            countTable("Hash set", summary.eliminated_by_hash_set, "Eliminated files by hash set"),
            countTable("Match", summary.eliminated_by_match, "Eliminated files by kind of match"),
          ]),
        ]
      : h("p", { class: "muted" }, "No file was eliminated."),
  );
}

export function alertsSection(number, alerts) {
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
  return collapsible(
    number,
    "alerts",
    `Cross-case alerts (${alerts.length})`,
    alerts.length > 0,
    h("p", {}, "A face of this case possibly matches a face in another case. Nothing of the other case is shown: contact its supervisor."),
    rows.length
      ? table(["Other case", "Its supervisor", "Faces of this case", "Last seen"], rows, "Cross-case alerts")
      : h("p", { class: "muted" }, "No cross-case alert."),
  );
}

export function hiddenSection(number, hidden, review) {
  if (!hidden.length) return null;
  return collapsible(
    number,
    "hidden-persons",
    `Hidden persons (${hidden.length})`,
    true,
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
        return h("li", { dataset: { cluster: String(cl.cluster) } }, `${label(cl)}, ${facesCount(cl.faces.length)} `, show);
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

export function decisionsSection(number, decisions) {
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
  return collapsible(
    number,
    "review-decisions",
    `Review decisions (${decisions.length})`,
    false,
    rows.length
      ? table(["Time", "By", "Person", "Decision", "Note"], rows, "Review decisions")
      : h("p", { class: "muted" }, "No decision yet. Each one is recorded here and in the audit log, and kept when the faces are grouped again."),
  );
}
