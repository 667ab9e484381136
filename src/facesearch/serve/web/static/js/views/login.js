import { api } from "../api.js";
import { field, h, input } from "../dom.js";

/** Sign in with a user name and password; then go where the user was going, or home. */
export async function loginView(app, _params, query) {
  const username = input("username", { autocomplete: "username", required: true, autofocus: true });
  const password = input("password", { type: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "error-box hidden", role: "alert" });
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "stack", on: { submit: onSubmit } },
    field("User name", username),
    field("Password", password),
    error,
    h("div", { class: "actions" }, submit),
  );

  async function onSubmit(event) {
    event.preventDefault();
    submit.disabled = true;
    error.classList.add("hidden");
    try {
      const out = await api("POST", "/auth/login", {
        json: { username: username.value.trim(), password: password.value },
      });
      await app.signedIn({ ...out.user, csrf_token: out.csrf_token });
      const next = query.get("next");
      app.go(next && next.startsWith("#/") && !next.startsWith("#/login") ? next : app.homeFor(app.me));
    } catch (err) {
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
