import { api } from "../api.js";
import { field, h, input, replace } from "../dom.js";
import { withButton } from "./common.js";

/** My account (every signed-in user): change your own password (the current one, the new one
 * twice: every other session of yours ends; this browser stays signed in), and your wellbeing
 * setting (greyscale, blur outside the face), applied to results, full images and media alike
 * from the next page shown. */
export async function accountView(app) {
  const me = await api("GET", "/auth/me");
  app.me = { ...app.me, ...me, csrf_token: app.me.csrf_token };
  return h(
    "section",
    { class: "account" },
    h("h1", {}, "My account"),
    h(
      "dl",
      { class: "details" },
      h("dt", {}, "User name"), h("dd", {}, me.username),
      h("dt", {}, "Name"), h("dd", {}, me.display_name || "-"),
      h("dt", {}, "Roles"), h("dd", {}, me.roles.join(", ")),
    ),
    wellbeingForm(app, me.wellbeing || {}),
    passwordForm(app),
  );
}

function checkbox(name, checked, label, disabled = false) {
  const box = h("input", { type: "checkbox", name, id: `wellbeing-${name}`, checked, disabled });
  return [box, h("div", { class: "check" }, box, h("label", { for: box.id }, label))];
}

function wellbeingForm(app, wb) {
  const [grey, greyRow] = checkbox("greyscale", wb.greyscale, "Show pictures in greyscale");
  const [blur, blurRow] = checkbox("blur_outside_face", wb.blur_outside_face !== false, "Blur the picture outside the face (reveal on request; each reveal is logged)", wb.blur_forced && wb.blur_outside_face !== false);
  const save = h("button", { type: "submit" }, "Save the setting");
  const status = h("p", { role: "status", "aria-live": "polite", class: "muted", id: "wellbeing-status" });
  const form = h(
    "form",
    { class: "stack", id: "wellbeing", on: { submit: (e) => { e.preventDefault(); withButton(app, save, async () => {
      const out = await api("PUT", "/auth/me/wellbeing", { json: { greyscale: grey.checked, blur_outside_face: blur.checked } });
      app.me = { ...app.me, wellbeing: out };
      replace(status, "Saved: it applies to results, full images and media from the next page shown.");
    }); } } },
    h(
      "fieldset",
      {},
      h("legend", {}, "How pictures of faces are shown to you"),
      greyRow,
      blurRow,
      wb.blur_forced ? h("p", { class: "hint" }, "The policy in force keeps the blur on: it cannot be turned off.") : null,
    ),
    h("div", { class: "actions" }, save),
    status,
  );
  return h("section", { "aria-labelledby": "wellbeing-title" }, h("h2", { id: "wellbeing-title" }, "Wellbeing"), form);
}

function passwordForm(app) {
  const current = input("current_password", { type: "password", autocomplete: "current-password", required: true });
  const fresh = input("new_password", { type: "password", autocomplete: "new-password", required: true, minlength: 12 });
  const again = input("new_password_again", { type: "password", autocomplete: "new-password", required: true, minlength: 12 });
  const change = h("button", { type: "submit" }, "Change my password");
  const form = h(
    "form",
    { class: "stack", id: "own-password", on: { submit: (e) => { e.preventDefault(); withButton(app, change, async () => {
      if (fresh.value !== again.value) {
        again.focus();
        throw new Error("The two new passwords differ.");
      }
      const out = await api("POST", "/auth/me/password", { json: { current_password: current.value, new_password: fresh.value, new_password_again: again.value } });
      await app.signedIn({ ...out.user, csrf_token: out.csrf_token });
      e.target.reset();
      app.flash("Password changed. Your sessions in other browsers have ended.");
    }); } } },
    field("Current password", current),
    field("New password", fresh, "At least 12 characters."),
    field("New password again", again),
    h("div", { class: "actions" }, change),
  );
  return h("section", { "aria-labelledby": "password-title" }, h("h2", { id: "password-title" }, "Password"), form);
}
