import { all, api } from "../api.js";
import { field, formatTime, h, input, replace, table } from "../dom.js";
import { errorBox, withButton } from "./common.js";

const POLL_MS = 1000;

export { galleryView } from "./gallery.js";
import { basisSection } from "./profiles.js";

/** Collections and the gallery's figures. */
export async function collectionsView(app) {
  const [collections, stats] = await Promise.all([all("/collections"), api("GET", "/stats")]);
  const flagged = Object.entries(stats.flagged_faces || {}).map(([k, v]) => `${k.replaceAll("_", " ")} ${v}`).join(", ") || "none";
  return h(
    "section",
    {},
    h("h1", {}, "Collections"),
    h(
      "div",
      { class: "card" },
      h(
        "dl",
        { class: "details" },
        h("dt", {}, "Images"), h("dd", {}, String(stats.images)),
        h("dt", {}, "Faces"), h("dd", {}, `${stats.faces} (${stats.searchable_faces} searchable)`),
        h("dt", {}, "Flagged faces"), h("dd", {}, flagged),
        h("dt", {}, "Provenance records"), h("dd", {}, String(stats.provenance_records)),
      ),
    ),
    collections.length
      ? table(["Collection", { label: "Images", num: true }, { label: "Faces", num: true }, { label: "Flagged faces", num: true }], collections.map((c) =>
          h(
            "tr",
            { dataset: { collection: c.name } },
            h("td", {}, h("a", { href: `#/admin/collections/${encodeURIComponent(c.name)}`, "aria-label": `Browse collection ${c.name}` }, c.name)),
            h("td", { class: "num" }, String(c.images)),
            h("td", { class: "num" }, String(c.faces)),
            h("td", { class: "num" }, c.flagged ? h("a", { href: `#/admin/collections/${encodeURIComponent(c.name)}?flagged=1`, "aria-label": `${c.flagged} flagged faces in ${c.name}` }, String(c.flagged)) : "0"),
          ),
        ), "Collections")
      : h("p", { class: "muted" }, "No collection yet: ingest photos first."),
    basisSection(app),
  );
}

/** Ingest jobs: start one from a server path or an uploaded archive; live progress; failures. */
export async function ingestView(app) {
  const jobsBox = h("div", { id: "jobs", "aria-live": "polite" });
  const runsBox = h("div", { id: "runs" });
  let timer = null;

  async function refresh() {
    let jobs;
    try {
      jobs = await all("/ingest/jobs");
    } catch (err) {
      replace(jobsBox, errorBox(err));
      return;
    }
    replace(jobsBox, jobs.length ? jobsTable(app, jobs, refresh) : h("p", { class: "muted" }, "No ingest job yet."));
    const active = jobs.some((j) => j.status === "queued" || j.status === "running");
    clearTimeout(timer);
    if (active) timer = setTimeout(refresh, POLL_MS);
    else await refreshRuns();
  }
  async function refreshRuns() {
    try {
      const runs = await all("/ingest/runs");
      replace(runsBox, runs.length ? runsTable(runs) : h("p", { class: "muted" }, "No ingest run yet."));
    } catch (err) {
      replace(runsBox, errorBox(err));
    }
  }
  app.cleanup.push(() => clearTimeout(timer));

  const path = input("path", { required: true, placeholder: "/srv/photos/case-files" });
  const rootsBox = h("div", { id: "ingest-roots", class: "roots" });
  try {
    const { roots } = await api("GET", "/ingest/roots");
    replace(rootsBox, h("h3", {}, "Allowed folders"), roots.length
      ? h("ul", {}, roots.map((root) => h("li", {}, h("code", {}, root), " ", h("button", { type: "button", class: "secondary", "aria-label": `Use the folder ${root}`, on: { click: () => { path.value = root.endsWith("/") ? root : `${root}/`; path.focus(); } } }, "Use"))))
      : h("p", { class: "muted" }, "None: the server allows no folder (set FACESEARCH_INGEST_ROOTS). Upload an archive instead."));
  } catch (err) {
    replace(rootsBox, errorBox(err));
  }
  const collection = input("collection");
  const startPath = h("button", { type: "submit" }, "Ingest this folder");
  const pathForm = h(
    "form",
    { class: "stack", id: "ingest-path", on: { submit: (e) => { e.preventDefault(); withButton(app, startPath, async () => {
      await api("POST", "/ingest/jobs", { json: { path: path.value.trim(), collection: collection.value.trim() || null } });
      app.flash("Ingest job queued.");
      await refresh();
    }); } } },
    field("Server path (a folder, archive or manifest)", path, "Must lie under one of the allowed folders listed here."),
    rootsBox,
    field("Collection", collection),
    h("div", { class: "actions" }, startPath),
  );

  const archive = h("input", { type: "file", name: "archive", accept: ".zip,.tar,.tar.gz,.tgz,application/zip,application/x-tar,application/gzip", required: true });
  const archiveCollection = input("collection");
  const upload = h("button", { type: "submit" }, "Upload and ingest");
  const uploadForm = h(
    "form",
    { class: "stack", id: "ingest-upload", on: { submit: (e) => { e.preventDefault(); withButton(app, upload, async () => {
      const form = new FormData();
      form.append("archive", archive.files[0]);
      form.append("collection", archiveCollection.value.trim());
      await api("POST", "/ingest/jobs/upload", { form });
      app.flash("Archive uploaded; ingest job queued.");
      await refresh();
    }); } } },
    field("Archive (zip or tar)", archive),
    field("Collection", archiveCollection),
    h("div", { class: "actions" }, upload),
  );

  await refresh();
  await refreshRuns();
  return h(
    "section",
    { class: "ingest-page" },
    h("h1", {}, "Ingest"),
    h("div", { class: "charts" }, h("div", { class: "card" }, h("h2", {}, "From the server"), pathForm), h("div", { class: "card" }, h("h2", {}, "Upload an archive"), uploadForm)),
    h("h2", {}, "Jobs"),
    jobsBox,
    h("h2", {}, "Runs and their failures"),
    runsBox,
  );
}

function jobsTable(app, jobs, refresh) {
  const rows = jobs.map((j) => {
    const action = [];
    if (j.resumable) {
      // its server stopped before it ended: a new job of the same sources skips what was stored
      action.push(h("button", { type: "button", "aria-label": `Resume job ${j.id}`, on: { click: (e) => withButton(app, e.currentTarget, async () => {
        const job = await api("POST", `/ingest/jobs/${j.id}/resume`);
        app.flash(`Job ${j.id} resumed as job ${job.id}.`);
        await refresh();
      }) } }, "Resume"), " ");
    }
    if (j.status === "queued" || j.status === "running" || j.resumable) {
      // an interrupted job cancelled is given up (its uploaded archive removed)
      action.push(h("button", { type: "button", class: "secondary", "aria-label": `Cancel job ${j.id}`, on: { click: (e) => withButton(app, e.currentTarget, async () => { await api("POST", `/ingest/jobs/${j.id}/cancel`); await refresh(); }) } }, "Cancel"));
    }
    const links = [
      j.resumes ? h("div", { class: "muted" }, `resumes job ${j.resumes}`) : null,
      j.resumed_by ? h("div", { class: "muted" }, `resumed as job ${j.resumed_by}`) : null,
    ];
    const cell = (label, ...content) => h("td", { dataset: { label } }, ...content);
    return h(
      "tr",
      { dataset: { job: String(j.id), status: j.status, phase: j.phase || "" } },
      cell("Job", String(j.id)),
      cell("Status", h("span", { class: `job-status job-${j.status}` }, j.status), j.phase_text ? h("div", { class: "phase" }, j.phase_text) : null, ...links),
      cell("Sources", (j.sources || []).join(", "), j.collection ? ` → ${j.collection}` : ""),
      cell("Progress", progress(j)),
      cell("Outcome", j.error ? h("span", { class: j.status === "interrupted" ? "muted" : "chain-bad" }, j.error) : outcome(j.counts)),
      cell("Started", j.created_by, h("div", {}, formatTime(j.created_at)), j.finished_at ? h("div", { class: "muted" }, `ended ${formatTime(j.finished_at)}`) : null),
      cell("Actions", action),
    );
  });
  return h("div", { class: "jobs-table stack-table" }, table(["Job", "Status", "Sources", "Progress", "Outcome", "Started", { label: "Actions" }], rows, "Ingest jobs"));
}

/** The progress bar with its figures in words; the rate and estimated end while it reads. */
function progress(j) {
  const total = j.files_total || 0;
  const done = j.files_done || 0;
  const counting = j.phase === "counting files" || j.phase === "waiting";
  const bar = h("progress", { max: String(total || 1), value: String(done), "aria-label": `Job ${j.id} progress` });
  if (counting || (j.status === "running" && !done)) bar.removeAttribute("value"); // indeterminate
  const figures = counting ? (j.phase === "waiting" ? "waiting to start" : "counting files…") : `${done} / ${total} files, ${j.faces ?? 0} faces`;
  const timing = [];
  if (j.files_per_second) timing.push(`${j.files_per_second} files/s`);
  if (j.estimated_end) timing.push(`ends about ${formatTime(j.estimated_end)}`);
  return [bar, h("div", { class: "progress-text" }, figures), timing.length ? h("div", { class: "rate" }, timing.join(", ")) : null];
}

// A finished job's counters grouped (their keys: IngestReport.counts in ingest/runner.py).
const COUNT_GROUPS = [
  ["Files", [["files_read", "read"], ["failures", "failed"]]],
  ["Images", [["images_new", "stored"], ["images_already_stored", "already stored"], ["duplicates", "duplicates"], ["images_without_face", "no face"]]],
  ["Faces", [["faces_indexed", "searchable"], ["faces_flagged", "flagged"], ["faces_suppressed", "suppressed"]]],
  ["Originals", [["originals_kept", "kept"], ["original_bytes", "bytes"], ["originals_too_large", "too large"]]],
  ["Second vectors", [["second_vectors_at_ingest", "made"], ["second_vectors_queued", "queued"]]],
  ["Workers", [["worker_crashes", "crashed batches"]]],
];

function outcome(counts) {
  if (!counts) return "";
  const known = new Set(COUNT_GROUPS.flatMap(([, items]) => items.map(([key]) => key)));
  const groups = [...COUNT_GROUPS, ["Other", Object.keys(counts).filter((k) => !known.has(k)).map((k) => [k, k.replaceAll("_", " ")])]];
  const entries = groups.map(([group, items]) => {
    const shown = items.filter(([key]) => key in counts && (counts[key] || group !== "Workers"));
    if (!shown.length) return null;
    return [
      h("dt", {}, group),
      h("dd", {}, h("ul", { class: "counts" }, shown.map(([key, label]) => {
        const value = counts[key];
        const text = key === "original_bytes" ? bytes(value) : typeof value === "object" ? JSON.stringify(value) : String(value);
        return h("li", { class: value ? null : "zero", dataset: { count: key } }, `${label} `, h("strong", {}, text));
      }))),
    ];
  });
  return h("dl", { class: "job-counts" }, entries);
}

function bytes(n) {
  if (!n) return "0";
  const units = ["B", "KB", "MB", "GB", "TB"];
  const i = Math.min(units.length - 1, Math.floor(Math.log(n) / Math.log(1024)));
  return `${(n / 1024 ** i).toFixed(i ? 1 : 0)} ${units[i]}`;
}

function runsTable(runs) {
  const rows = runs.map((r) => {
    const failures = h("div", {});
    const failed = r.counts?.failures ?? r.counts?.failed ?? 0;
    const show = h("button", { type: "button", class: "secondary", "aria-expanded": "false", "aria-label": `Failures of run ${r.id}` }, "Failures");
    show.addEventListener("click", async () => {
      if (show.getAttribute("aria-expanded") === "true") {
        replace(failures);
        show.setAttribute("aria-expanded", "false");
        return;
      }
      try {
        const items = await all(`/ingest/runs/${r.id}/failures`);
        replace(failures, items.length ? h("ul", {}, items.map((f) => h("li", {}, `${f.path}: ${f.reason}`))) : h("p", { class: "muted" }, "No failures."));
      } catch (err) {
        replace(failures, errorBox(err));
      }
      show.setAttribute("aria-expanded", "true");
    });
    const cell = (label, ...content) => h("td", { dataset: { label } }, ...content);
    return h(
      "tr",
      {},
      cell("Run", String(r.id)),
      cell("Status", r.status || "", r.reason ? h("div", { class: "muted" }, r.reason) : null),
      cell("Started", formatTime(r.started_at)),
      cell("Sources", (r.sources || []).join(", ")),
      cell("Collection", r.collection || ""),
      h("td", { class: "num", dataset: { label: "Failures" } }, String(failed)),
      cell("Details", show, failures),
    );
  });
  return h("div", { class: "stack-table" }, table(["Run", "Status", "Started", "Sources", "Collection", { label: "Failures", num: true }, { label: "Details" }], rows, "Ingest runs"));
}

