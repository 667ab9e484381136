// Media uploaded from the browser by the case's investigators: photos, videos or a zip or tar
// of them, into a new media set with its label and the material's source and legal basis. The
// server imports and clusters them in the background; the page follows the jobs and shows
// itself again, with the new set and its persons, when one has ended.
import { api } from "../../api.js";
import { field, formatTime, h, input, replace, table } from "../../dom.js";
import { errorBox, withButton } from "../common.js";
import { isOpen, setOpen } from "./state.js";

const POLL_MS = 1000;
const ACCEPT = "image/*,video/*,.zip,.tar,.tar.gz,.tgz,application/zip,application/x-tar,application/gzip";
const ACTIVE = new Set(["queued", "running"]);

function jobRow(j) {
  const total = j.files_total || 0;
  const bar = h("progress", { max: String(total || 1), value: String(j.files_done || 0), "aria-label": `Upload ${j.id} progress` });
  if (!total && ACTIVE.has(j.status)) bar.removeAttribute("value");
  const outcome =
    j.status === "completed"
      ? `${j.files_done} file${j.files_done === 1 ? "" : "s"}, ${j.faces} face${j.faces === 1 ? "" : "s"}`
      : j.error || (ACTIVE.has(j.status) ? `${j.files_done} of ${total || "?"} files, ${j.faces} faces` : "—");
  return h(
    "tr",
    { dataset: { job: String(j.id), status: j.status } },
    h("td", {}, j.media_set),
    h("td", {}, j.files.join(", ")),
    h("td", {}, `${j.created_by}, ${formatTime(j.created_at)}`),
    h("td", {}, h("span", { class: `status status-${j.status}` }, j.status)),
    h("td", {}, bar),
    h("td", {}, outcome),
  );
}

/**
 * The upload section: a form for the case's investigators (case open), the case's upload jobs
 * for its readers. Returns null when there is nothing to show.
 */
export function uploadSection(app, c, jobs, canUpload) {
  if (!canUpload && !jobs.length) return null;
  const number = c.number;
  const path = `/cases/${encodeURIComponent(number)}/media`;
  const box = h("div", { id: "media-jobs", "aria-live": "polite" });
  let timer = null;
  let active = new Set(jobs.filter((j) => ACTIVE.has(j.status)).map((j) => j.id));
  const render = (list) =>
    replace(
      box,
      list.length
        ? table(["Media set", "Files", "Uploaded", "Status", "Progress", "Outcome"], list.map(jobRow), "Media uploads")
        : h("p", { class: "muted" }, "No upload yet."),
    );
  let alive = true; // false once the user has left the page
  async function poll() {
    if (!alive) return;
    let list;
    try {
      list = await api("GET", `${path}/jobs`);
    } catch (err) {
      replace(box, errorBox(err));
      return;
    }
    if (!alive) return;
    render(list);
    const ended = list.filter((j) => active.has(j.id) && !ACTIVE.has(j.status));
    active = new Set(list.filter((j) => ACTIVE.has(j.status)).map((j) => j.id));
    if (ended.length) {
      app.go(window.location.hash); // the page again: the new media set and its persons
      const j = ended[0];
      const done = j.status === "completed";
      app.flash(done ? `Media set “${j.media_set}” imported: ${j.files_done} files, ${j.faces} faces.` : `The upload into “${j.media_set}” ${j.status}: ${j.error || "see the jobs"}`, !done);
      return;
    }
    clearTimeout(timer);
    if (active.size) timer = setTimeout(poll, POLL_MS);
  }
  app.cleanup.push(() => {
    alive = false;
    clearTimeout(timer);
  });
  render(jobs);
  if (active.size) timer = setTimeout(poll, POLL_MS);

  let form = null;
  if (canUpload) {
    const files = h("input", { type: "file", name: "files", multiple: true, accept: ACCEPT, required: true });
    const labelIn = input("label", { required: true, maxlength: 200, autocomplete: "off", placeholder: "phone-2" });
    const note = h("textarea", { name: "note", required: true, maxlength: 2000 });
    const send = h("button", { type: "submit" }, "Upload");
    form = h(
      "form",
      {
        class: "stack",
        id: "media-upload-form",
        on: {
          submit: (e) => {
            e.preventDefault();
            withButton(app, send, async () => {
              if (!files.files.length) throw new Error("Choose the photos, videos or archive to upload.");
              const body = new FormData();
              for (const f of files.files) body.append("files", f);
              body.append("label", labelIn.value.trim());
              body.append("note", note.value.trim());
              const job = await api("POST", `${path}/upload`, { form: body });
              app.flash(`Uploaded into the new media set “${job.media_set}”: it is being imported (the page follows it).`);
              form.reset();
              active.add(job.id);
              await poll();
            });
          },
        },
      },
      field("Photos, videos, or a zip or tar archive of them", files, "Several files may be chosen; they go into one new media set."),
      field("Label of the new media set", labelIn, "For example the device: phone-2."),
      field("Source and legal basis", note, "Where the material comes from and under what authority (kept with the set and in the audit log)."),
      h("div", { class: "actions" }, send),
    );
  }
  const details = h(
    "details",
    { id: "media-upload", class: "media-section", open: isOpen(number, "media-upload", active.size > 0) || null },
    h("summary", {}, h("h2", {}, canUpload ? "Upload media" : "Media uploads")),
    form,
    h("h3", {}, "Uploads"),
    box,
  );
  details.addEventListener("toggle", () => setOpen(number, "media-upload", details.open));
  return details;
}
