import { all, api } from "../api.js";
import { field, formatTime, h, input, replace, table } from "../dom.js";
import { errorBox, withButton } from "./common.js";

const POLL_MS = 1000;

/** Collections and the gallery's figures. */
export async function collectionsView() {
  const [collections, stats] = await Promise.all([all("/collections"), api("GET", "/stats")]);
  const flagged = Object.entries(stats.flagged_faces || {}).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
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
      ? table(["Collection", { label: "Images", num: true }, { label: "Faces", num: true }], collections.map((c) =>
          h("tr", {}, h("td", {}, c.name), h("td", { class: "num" }, String(c.images)), h("td", { class: "num" }, String(c.faces))),
        ), "Collections")
      : h("p", { class: "muted" }, "No collection yet: ingest photos first."),
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
  const collection = input("collection");
  const startPath = h("button", { type: "submit" }, "Ingest this folder");
  const pathForm = h(
    "form",
    { class: "stack", id: "ingest-path", on: { submit: (e) => { e.preventDefault(); withButton(app, startPath, async () => {
      await api("POST", "/ingest/jobs", { json: { path: path.value.trim(), collection: collection.value.trim() || null } });
      app.flash("Ingest job queued.");
      await refresh();
    }); } } },
    field("Server path (a folder, archive or manifest)", path, "Must lie under one of the server's allowed ingest roots."),
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
    {},
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
    const total = j.files_total || 0;
    const bar = h("progress", { max: String(total || 1), value: String(j.files_done || 0), "aria-label": `Job ${j.id} progress` });
    if (!total && j.status === "running") bar.removeAttribute("value");
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
    const counts = j.counts ? Object.entries(j.counts).map(([k, v]) => `${k.replaceAll("_", " ")} ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ") : "";
    return h(
      "tr",
      { dataset: { job: String(j.id), status: j.status } },
      h("td", {}, String(j.id)),
      h("td", {}, j.status, ...links),
      h("td", {}, (j.sources || []).join(", "), j.collection ? ` → ${j.collection}` : ""),
      h("td", {}, bar, ` ${j.files_done ?? 0} / ${total || "?"} files, ${j.faces ?? 0} faces`),
      h("td", {}, j.error ? h("span", { class: j.status === "interrupted" ? "muted" : "chain-bad" }, j.error) : counts),
      h("td", {}, j.created_by, " ", formatTime(j.created_at)),
      h("td", {}, action),
    );
  });
  return table(["Job", "Status", "Sources", "Progress", "Outcome", "Started by", ""], rows, "Ingest jobs");
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
    return h(
      "tr",
      {},
      h("td", {}, String(r.id)),
      h("td", {}, r.status || "", r.reason ? h("div", { class: "muted" }, r.reason) : null),
      h("td", {}, formatTime(r.started_at)),
      h("td", {}, (r.sources || []).join(", ")),
      h("td", {}, r.collection || ""),
      h("td", { class: "num" }, String(failed)),
      h("td", {}, show, failures),
    );
  });
  return table(["Run", "Status", "Started", "Sources", "Collection", { label: "Failures", num: true }, ""], rows, "Ingest runs");
}

