// A case's seized material (its media sets), for the case's investigators and supervisors, on
// one compact page: the upload of new media (investigators), the sets, what known-image
// elimination set aside, the cross-case alerts, the persons found as a grid of cards that open
// to their faces and review (name, hide, merge, split, move: each decision recorded and
// audited by the server), the hidden persons and the decisions. Sections are disclosures; what
// is open stays open while the app runs. Pictures are drawn by the server as the user's
// wellbeing setting asks; the picture as it is only after a logged reveal. The parts:
// media/sections.js, media/persons.js, media/review.js, media/upload.js, media/state.js.
import { api } from "../api.js";
import { h } from "../dom.js";
import { statusBadge } from "./common.js";
import { personsSection } from "./media/persons.js";
import { reviewer } from "./media/review.js";
import { alertsSection, decisionsSection, eliminatedSection, hiddenSection, setsSection } from "./media/sections.js";
import { shownAs, wellbeingOf } from "./media/state.js";
import { uploadSection } from "./media/upload.js";

export { videoTime } from "./media/persons.js";

export async function mediaView(app, [number]) {
  const path = `/cases/${encodeURIComponent(number)}`;
  const c = await api("GET", path);
  const [sets, summary, everyone, alerts, decisions, jobs] = await Promise.all([
    api("GET", `${path}/media`),
    api("GET", `${path}/media/summary`),
    api("GET", `${path}/media/clusters`, { query: { include_hidden: true } }),
    api("GET", `${path}/media/alerts`),
    api("GET", `${path}/media/decisions`),
    api("GET", `${path}/media/jobs`),
  ]);
  const urls = [];
  app.cleanup.push(() => urls.forEach((u) => URL.revokeObjectURL(u)));
  const assigned = app.has("investigator") && (c.assigned || []).includes(app.me.username);
  const open = c.status === "open";
  const review = open && (assigned || app.has("supervisor")) ? reviewer(app, c) : null;
  const clusters = everyone.filter((cl) => !cl.hidden);
  const hidden = everyone.filter((cl) => cl.hidden);
  const notes = new Map(jobs.map((j) => [j.media_set, j.note])); // an uploaded set: its source
  const wb = wellbeingOf(app);
  return h(
    "section",
    { class: "media-view" },
    h("h1", {}, `Media of case ${c.number} `, statusBadge(c.status)),
    h("p", {}, h("a", { href: `#${path}` }, `Back to case ${c.number}`)),
    h("p", { class: "statement" }, `Face pictures are shown ${shownAs(wb)} (your wellbeing setting). A picture is shown as it is only when you reveal it, and each reveal is recorded in the audit log.`),
    uploadSection(app, c, jobs, assigned && open),
    setsSection(c.number, sets, summary, notes),
    personsSection({ app, c, clusters, canSearch: assigned && open, review, urls }),
    hiddenSection(c.number, hidden, review),
    alertsSection(c.number, alerts),
    eliminatedSection(c.number, summary),
    decisionsSection(c.number, decisions),
  );
}
