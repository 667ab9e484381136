import { all, api } from "../api.js";
import { confirmDialog, copyButton, field, formatTime, h, input, replace, table } from "../dom.js";
import { withButton } from "./common.js";
import { trainingsSection } from "./profiles.js";

const ROLES = ["administrator", "investigator", "supervisor", "auditor"];

/** Users (add; edit: display name, roles, password reset; disable/enable), pending changes (the two-person rule: approve or reject
 * what another administrator asked for) and API tokens (create, shown once; revoke). */
export async function usersView(app) {
  const usersBox = h("div", {});
  const changesBox = h("div", { id: "changes" });
  const isAdmin = (app.me.roles || []).includes("administrator");
  const tokensBox = h("div", {});
  const tokenOnce = h("div", { "aria-live": "polite" });

  async function refresh() {
    const [users, tokens, changes] = await Promise.all([all("/users"), all("/tokens"), isAdmin ? all("/changes") : []]);
    replace(usersBox, table(["User", "Name", "Roles", "State", "Created", ""], users.flatMap((u) => userRows(app, u, refresh)), "Users"));
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
    isAdmin ? trainingsSection(app) : null,
  );
}

/** A user's row and, below it, their Edit form (hidden until "Edit" is pressed). */
function userRows(app, u, refresh) {
  const form = editForm(app, u, refresh);
  const formRow = h("tr", { class: "edit-row", hidden: true }, h("td", { colspan: "6" }, form));
  const edit = h("button", { type: "button", class: "secondary", "aria-expanded": "false", "aria-label": `Edit ${u.username}` }, "Edit");
  edit.addEventListener("click", () => {
    formRow.hidden = !formRow.hidden;
    edit.setAttribute("aria-expanded", String(!formRow.hidden));
    if (!formRow.hidden) form.querySelector("input").focus();
  });
  return [userRow(app, u, refresh, edit), formRow];
}

/** Edit a user: display name (at once), roles (granting administrator or supervisor waits for
 * a second administrator), and a password reset (the user chooses a new one at sign-in). */
function editForm(app, u, refresh) {
  const key = u.username.replace(/[^a-z0-9_-]/g, "_");
  const name = input("display_name", { value: u.display_name || "", id: `edit-${key}-name`, maxlength: 200 });
  const boxes = ROLES.map((r) => h("input", { type: "checkbox", name: "roles", value: r, id: `edit-${key}-role-${r}`, checked: (u.roles || []).includes(r) }));
  const own = u.username === app.me.username;
  const reset = own ? null : input("password", { type: "password", autocomplete: "new-password", id: `edit-${key}-password`, minlength: 12 });
  const save = h("button", { type: "submit" }, `Save ${u.username}`);
  return h(
    "form",
    { class: "stack edit-user", id: `edit-${key}`, on: { submit: (e) => { e.preventDefault(); withButton(app, save, async () => {
      const body = {};
      if (name.value.trim() !== (u.display_name || "")) body.display_name = name.value.trim();
      const roles = boxes.filter((b) => b.checked).map((b) => b.value);
      if (!roles.length) throw new Error("Choose at least one role.");
      if (roles.slice().sort().join(",") !== (u.roles || []).slice().sort().join(",")) body.roles = roles;
      if (reset && reset.value) body.password = reset.value;
      if (!Object.keys(body).length) throw new Error("Nothing to save: nothing was changed.");
      const out = await api("PATCH", `/users/${encodeURIComponent(u.username)}`, { json: body });
      const waiting = (out.pending_changes || []).map((c) => c.message);
      app.flash(waiting.length ? waiting.join(" ") : `${u.username} saved${body.password ? ": they must choose a new password at sign-in" : ""}.`);
      await refresh();
    }); } } },
    h("h3", {}, `Edit ${u.username}`),
    field("Display name", name),
    h("fieldset", {}, h("legend", {}, "Roles"), boxes.map((b) => h("div", { class: "check" }, b, h("label", { for: b.id }, b.value))),
      h("p", { class: "hint" }, "Granting administrator or supervisor takes effect when a second administrator approves it.")),
    reset ? field("Reset the password", reset, "Leave empty to keep it. After a reset the user must choose a new password at sign-in; their sessions end.") : null,
    h("div", { class: "actions" }, save),
  );
}

function userRow(app, u, refresh, edit) {
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
    h("td", {}, edit, u.username === app.me.username ? null : toggle),
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
