import { all, api } from "../api.js";
import { confirmDialog, copyButton, field, formatTime, h, input, replace, table } from "../dom.js";
import { errorBox, withButton } from "./common.js";

const ROLES = ["administrator", "investigator", "supervisor", "auditor"];
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

/** Users (add, roles, disable/enable), pending changes (the two-person rule: approve or reject
 * what another administrator asked for) and API tokens (create, shown once; revoke). */
export async function usersView(app) {
  const usersBox = h("div", {});
  const changesBox = h("div", { id: "changes" });
  const isAdmin = (app.me.roles || []).includes("administrator");
  const tokensBox = h("div", {});
  const tokenOnce = h("div", { "aria-live": "polite" });

  async function refresh() {
    const [users, tokens, changes] = await Promise.all([all("/users"), all("/tokens"), isAdmin ? all("/changes") : []]);
    replace(usersBox, table(["User", "Name", "Roles", "State", "Created", ""], users.map((u) => userRow(app, u, refresh)), "Users"));
    replace(
      changesBox,
      changes.length
        ? table(["Id", "Change", "Asked by", "Asked", ""], changes.map((c) => changeRow(app, c, refresh)), "Pending changes")
        : h("p", { class: "muted" }, "No change waits for approval."),
    );
    replace(
      tokensBox,
      tokens.length
        ? table(["Id", "User", "Name", "Prefix", "Created", "Expires", "Last used", "State", ""], tokens.map((t) => tokenRow(app, t, refresh)), "Tokens")
        : h("p", { class: "muted" }, "No token."),
    );
  }

  const username = input("username", { required: true, autocomplete: "off" });
  const displayName = input("display_name");
  const password = input("password", { type: "password", autocomplete: "new-password" });
  const roleBoxes = ROLES.map((r) => h("input", { type: "checkbox", name: "roles", value: r, id: `role-${r}` }));
  const add = h("button", { type: "submit" }, "Add the user");
  const addForm = h(
    "form",
    { class: "stack", id: "add-user", on: { submit: (e) => { e.preventDefault(); withButton(app, add, async () => {
      const roles = roleBoxes.filter((b) => b.checked).map((b) => b.value);
      if (!roles.length) throw new Error("Choose at least one role.");
      const out = await api("POST", "/users", { json: { username: username.value.trim(), display_name: displayName.value.trim(), roles, password: password.value || null } });
      app.flash(out && out.status === "pending" ? out.message : `User ${username.value.trim()} added.`);
      e.target.reset();
      await refresh();
    }); } } },
    field("User name", username),
    field("Display name", displayName),
    field("Password", password, "Leave empty for a token-only account."),
    h("fieldset", {}, h("legend", {}, "Roles"), roleBoxes.map((b) => h("div", { class: "check" }, b, h("label", { for: b.id }, b.value)))),
    h("div", { class: "actions" }, add),
  );

  const tokenName = input("token_name");
  const tokenDays = input("expires_days", { type: "number", min: 1, value: "90" });
  const create = h("button", { type: "submit" }, "Create a token");
  const tokenForm = h(
    "form",
    { class: "inline", id: "create-token", on: { submit: (e) => { e.preventDefault(); withButton(app, create, async () => {
      const out = await api("POST", "/tokens", { json: { name: tokenName.value.trim(), expires_days: tokenDays.value ? Number(tokenDays.value) : null } });
      const shown = h("p", { class: "token-once", id: "new-token" }, out.token);
      replace(tokenOnce, h("p", {}, "Copy the token now: it is shown only once."), shown, copyButton(shown, "Copy the token"));
      await refresh();
    }); } } },
    h("p", { class: "muted" }, `For you (${app.me.username}): a token is created only by its owner.`),
    field("Name", tokenName),
    field("Expires after (days)", tokenDays),
    create,
  );

  await refresh();
  return h(
    "section",
    {},
    h("h1", {}, "Users and tokens"),
    usersBox,
    isAdmin ? h("h2", {}, "Pending changes") : null,
    isAdmin ? h("p", { class: "muted" }, "Granting administrator or supervisor and re-enabling a user take effect when a second administrator approves.") : null,
    isAdmin ? changesBox : null,
    h("h2", {}, "Add a user"),
    addForm,
    h("h2", {}, "API tokens"),
    tokenForm,
    tokenOnce,
    tokensBox,
  );
}

function userRow(app, u, refresh) {
  const toggle = h("button", { type: "button", class: "secondary", "aria-label": `${u.active ? "Disable" : "Enable"} ${u.username}` }, u.active ? "Disable" : "Enable");
  // Asked before the button is disabled by withButton, so that focus can come back to it.
  toggle.addEventListener("click", async () => {
    if (u.active && !(await confirmDialog(`Disable ${u.username}? They are signed out and can no longer sign in or use their tokens until enabled again.`, `Disable ${u.username}`, toggle))) return;
    await withButton(app, toggle, async () => {
      const out = await api("PATCH", `/users/${encodeURIComponent(u.username)}`, { json: { active: !u.active } });
      if (out && out.pending_changes && out.pending_changes.length) app.flash(out.pending_changes[0].message);
      await refresh();
    });
  });
  return h(
    "tr",
    {},
    h("td", {}, u.username),
    h("td", {}, u.display_name || ""),
    h("td", {}, (u.roles || []).join(", ")),
    h("td", {}, u.active ? "active" : `disabled ${formatTime(u.disabled_at)}`),
    h("td", {}, formatTime(u.created_at)),
    h("td", {}, u.username === app.me.username ? null : toggle),
  );
}

function changeRow(app, c, refresh) {
  const decide = (verb, label, cls) => {
    const button = h("button", { type: "button", class: cls, "aria-label": `${label} change ${c.id}` }, label);
    button.addEventListener("click", () => withButton(app, button, async () => {
      const out = await api("POST", `/changes/${c.id}/${verb}`, { json: {} });
      app.flash(out.message);
      await refresh();
    }));
    return button;
  };
  const own = c.requested_by === app.me.username;
  return h(
    "tr",
    {},
    h("td", {}, String(c.id)),
    h("td", {}, c.summary),
    h("td", {}, c.requested_by),
    h("td", {}, formatTime(c.requested_at)),
    h("td", {}, own ? null : decide("approve", "Approve", "secondary"), decide("reject", own ? "Withdraw" : "Reject", "danger")),
  );
}

function tokenRow(app, t, refresh) {
  const revoked = Boolean(t.revoked_at);
  const revoke = h("button", { type: "button", class: "danger", "aria-label": `Revoke token ${t.id}` }, "Revoke");
  revoke.addEventListener("click", async () => {
    if (!(await confirmDialog(`Revoke token ${t.id} (${t.name || t.prefix})? Scripts using it stop working; this cannot be undone.`, `Revoke token ${t.id}`, revoke))) return;
    await withButton(app, revoke, async () => {
      await api("DELETE", `/tokens/${t.id}`);
      await refresh();
    });
  });
  return h(
    "tr",
    {},
    h("td", {}, String(t.id)),
    h("td", {}, t.user),
    h("td", {}, t.name || ""),
    h("td", {}, h("code", {}, t.prefix || "")),
    h("td", {}, formatTime(t.created_at)),
    h("td", {}, formatTime(t.expires_at) || "never"),
    h("td", {}, formatTime(t.last_used_at) || "never"),
    h("td", {}, revoked ? `revoked ${formatTime(t.revoked_at)}` : "valid"),
    h("td", {}, revoked ? null : revoke),
  );
}
