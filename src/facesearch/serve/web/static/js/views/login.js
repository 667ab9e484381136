import { api } from "../api.js";
import { field, h, input } from "../dom.js";

/** Sign in with a user name and password; then go where the user was going, or home. After an
 * administrator reset the password, the server asks for a new one first: the form then shows a
 * "New password" field, changes it (POST /auth/password, the reset one as the current one) and
 * signs in with the new one. */
export async function loginView(app, _params, query) {
  const username = input("username", { autocomplete: "username", required: true, autofocus: true });
  const password = input("password", { type: "password", autocomplete: "current-password", required: true });
  const newPassword = input("new_password", { type: "password", autocomplete: "new-password", minlength: 12 });
  const newField = h("div", { class: "hidden", id: "new-password" }, field("New password", newPassword, "Your password was reset by an administrator: choose your own (at least 12 characters)."));
  const error = h("p", { class: "error-box hidden", role: "alert" });
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "stack", on: { submit: onSubmit } },
    field("User name", username),
    field("Password", password),
    newField,
    error,
    h("div", { class: "actions" }, submit),
  );

  async function onSubmit(event) {
    event.preventDefault();
    submit.disabled = true;
    error.classList.add("hidden");
    try {
      if (!newField.classList.contains("hidden")) {
        await api("POST", "/auth/password", {
          json: { username: username.value.trim(), current_password: password.value, new_password: newPassword.value },
        });
        password.value = newPassword.value;
      }
      const out = await api("POST", "/auth/login", {
        json: { username: username.value.trim(), password: password.value },
      });
      await app.signedIn({ ...out.user, csrf_token: out.csrf_token });
      const next = query.get("next");
      app.go(next && next.startsWith("#/") && !next.startsWith("#/login") ? next : app.homeFor(app.me));
    } catch (err) {
      if (err.problem && err.problem.password_change_required) {
        newField.classList.remove("hidden");
        newPassword.required = true;
        submit.textContent = "Change the password and sign in";
        error.textContent = err.message;
        error.classList.remove("hidden");
        newPassword.focus();
        return;
      }
      error.textContent = err.status === 429 ? `Too many attempts: ${err.message}` : `Sign-in failed: ${err.message}`;
      error.classList.remove("hidden");
      password.select();
    } finally {
      submit.disabled = false;
    }
  }

  return h(
    "section",
    { class: "login" },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "facesearch is for lawful, accountable investigations. Every search and view is recorded."),
    form,
  );
}
