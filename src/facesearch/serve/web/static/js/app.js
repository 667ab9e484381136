// The single-page app: hash routes, the signed-in user, the navigation by role.
import { api, ApiError, setCsrfToken } from "./api.js";
import { h, replace } from "./dom.js";
import { loginView } from "./views/login.js";
import { casesView, approvalsView } from "./views/cases.js";
import { caseView } from "./views/case.js";
import { newSearchView } from "./views/search.js";
import { resultsView } from "./views/results.js";
import { mediaView } from "./views/media.js";
import { collectionsView, galleryView, ingestView } from "./views/admin.js";
import { usersView } from "./views/users.js";
import { policyView } from "./views/policy.js";
import { accountView } from "./views/account.js";
import { auditView } from "./views/audit.js";
import { incidentsView } from "./views/incidents.js";
import { reportsView } from "./views/reports.js";
import { alertsView, refreshAlertBadge } from "./views/alerts.js";
import { modelsView } from "./views/models.js";
import { showSuspension } from "./banner.js";
import { errorTitle, sentence } from "./views/common.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const whoami = document.getElementById("whoami");
const flashBox = document.getElementById("flash");
let flashFresh = false; // the flash was set since the user's last click or key press
let shownHash = null; // the address of the page last shown (a new one opens scrolled to the top)
if ("scrollRestoration" in history) history.scrollRestoration = "manual";

/** What every view gets: the user, navigation, messages. */
const app = {
  me: null,
  has(...roles) {
    return Boolean(this.me) && roles.some((r) => this.me.roles.includes(r));
  },
  go(hash) {
    if (window.location.hash === hash) route();
    else window.location.hash = hash;
  },
  /** Show a message above the page. It survives the navigation that follows it (a flash
   * set by an action is still "fresh" until the user's next click or key press), so "Case
   * requested" or "Your session has ended" is read on the page the action leads to. */
  flash(message, isError = false) {
    flashFresh = true;
    const dismiss = h("button", { type: "button", class: "secondary dismiss", "aria-label": "Dismiss the message", on: { click: () => app.clearFlash() } }, "Dismiss");
    replace(flashBox, h("p", { class: isError ? "msg error" : "msg", role: isError ? "alert" : null }, h("span", {}, message), dismiss));
  },
  clearFlash() {
    flashFresh = false;
    replace(flashBox);
  },
  /** Count the cases waiting for approval again, in the navigation's badge (supervisors). */
  refreshBadge() {
    return refreshBadge();
  },
  async signedIn(me) {
    this.me = me;
    setCsrfToken(me.csrf_token);
    renderChrome();
  },
  cleanup: [],
};

const NAV = [
  { hash: "#/cases", label: "Cases", roles: ["investigator", "supervisor", "auditor"] },
  { hash: "#/approvals", label: "Approval queue", roles: ["supervisor"] },
  { hash: "#/alerts", label: "Alerts", roles: ["investigator", "supervisor"] },
  { hash: "#/admin/collections", label: "Collections", roles: ["administrator"] },
  { hash: "#/admin/ingest", label: "Ingest", roles: ["administrator"] },
  { hash: "#/admin/users", label: "Users and tokens", roles: ["administrator"] },
  { hash: "#/admin/models", label: "Models", roles: ["administrator"] },
  { hash: "#/audit", label: "Audit", roles: ["auditor", "supervisor", "administrator"] },
  { hash: "#/reports", label: "Reports", roles: ["auditor", "supervisor", "administrator"] },
  { hash: "#/incidents", label: "Incidents", roles: null },
  { hash: "#/policy", label: "Policy", roles: null },
];

const ROUTES = [
  [/^\/login$/, loginView, null],
  [/^\/cases$/, casesView, ["investigator", "supervisor", "auditor", "administrator"]],
  [/^\/approvals$/, approvalsView, ["supervisor"]],
  [/^\/cases\/([^/]+)$/, caseView, null],
  [/^\/cases\/([^/]+)\/search$/, newSearchView, ["investigator"]],
  [/^\/cases\/([^/]+)\/media$/, mediaView, ["investigator", "supervisor"]],
  [/^\/searches\/(\d+)$/, resultsView, null],
  [/^\/admin\/collections$/, collectionsView, ["administrator"]],
  [/^\/admin\/collections\/([^/]+)$/, galleryView, ["administrator"]],
  [/^\/admin\/ingest$/, ingestView, ["administrator"]],
  [/^\/admin\/users$/, usersView, ["administrator"]],
  [/^\/admin\/models$/, modelsView, ["administrator"]],
  [/^\/audit$/, auditView, ["auditor", "supervisor", "administrator"]],
  [/^\/policy$/, policyView, null],
  [/^\/incidents$/, incidentsView, null],
  [/^\/reports$/, reportsView, ["auditor", "supervisor", "administrator"]],
  [/^\/alerts$/, alertsView, ["investigator", "supervisor"]],
  [/^\/account$/, accountView, null],
];

function homeFor(me) {
  if (me.roles.includes("investigator") || me.roles.includes("supervisor")) return "#/cases";
  if (me.roles.includes("auditor")) return "#/audit";
  if (me.roles.includes("administrator")) return "#/admin/ingest";
  return "#/policy";
}

function renderChrome() {
  const current = window.location.hash.split("?")[0];
  showSuspension(Boolean(app.me));
  if (!app.me) {
    replace(nav);
    replace(whoami);
    return;
  }
  const items = NAV.filter((item) => !item.roles || app.has(...item.roles)).map((item) =>
    h("li", {}, h("a", { href: item.hash, "aria-current": current.startsWith(item.hash) ? "page" : null, dataset: { nav: item.hash } }, item.label)),
  );
  replace(nav, h("ul", {}, items));
  refreshAlertBadge(app);
  refreshBadge();
  replace(
    whoami,
    h("a", { href: "#/account", id: "account-link", title: "My account" }, `${app.me.display_name || app.me.username} (${app.me.roles.join(", ")})`),
    h("button", { type: "button", class: "secondary", id: "logout", on: { click: logout } }, "Sign out"),
  );
}

let badgeAsked = 0; // the latest count asked for: an older answer arriving late is dropped

/** The approval queue's link with the number of cases waiting ("Approval queue (3)"), read
 * again at every navigation; its accessible name in words. */
async function refreshBadge() {
  const link = nav.querySelector('a[data-nav="#/approvals"]');
  if (!link || !app.has("supervisor")) return;
  const asked = ++badgeAsked;
  let pending;
  try {
    pending = (await api("GET", "/cases/pending/count")).pending;
  } catch {
    return; // the link still leads to the queue
  }
  if (asked !== badgeAsked || !link.isConnected) return;
  link.textContent = pending ? `Approval queue (${pending})` : "Approval queue";
  if (pending) {
    link.setAttribute("aria-label", `Approval queue: ${pending} ${pending === 1 ? "case waits" : "cases wait"} for approval`);
  } else {
    link.removeAttribute("aria-label");
  }
  link.dataset.pending = String(pending);
}

async function logout() {
  try {
    await api("POST", "/auth/logout");
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) app.flash(err.message, true);
  }
  app.me = null;
  setCsrfToken(null);
  renderChrome();
  app.go("#/login");
}

/** Parse "#/path?x=1" into its path and query. */
export function parseHash(hash = window.location.hash) {
  const raw = hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { path, query: new URLSearchParams(query) };
}

async function route() {
  for (const fn of app.cleanup.splice(0)) fn();
  const { path, query } = parseHash();
  main.dataset.route = ""; // set again once the page for this address is shown
  if (!app.me && path !== "/login") {
    try {
      await app.signedIn(await api("GET", "/auth/me"));
    } catch {
      app.go(`#/login?next=${encodeURIComponent(window.location.hash || "")}`);
      return;
    }
  }
  if (path === "/" || path === "") {
    app.go(app.me ? homeFor(app.me) : "#/login");
    return;
  }
  renderChrome();
  const found = ROUTES.map(([re, view, roles]) => [path.match(re), view, roles]).find(([m]) => m);
  if (!found) {
    show(h("h1", {}, "Not found"), h("p", {}, "There is no page at this address."), wayOut());
    return;
  }
  const [match, view, roles] = found;
  if (roles && !app.has(...roles)) {
    show(h("h1", {}, "Not available"), h("p", {}, `This page is for ${roles.join(" or ")} accounts.`), wayOut());
    return;
  }
  try {
    const content = await view(app, match.slice(1).map(decodeURIComponent), query);
    show(content);
  } catch (err) {
    // a refusal is titled in words by its status ("Not allowed", "Not found"), the server's
    // reason as a sentence; only the errors that are not the user's say "Something went wrong"
    const status = err instanceof ApiError ? err.status : 0;
    show(
      h("h1", {}, errorTitle(err)),
      h("p", { class: "error-box", role: "alert", dataset: { status: String(status) } }, sentence(err.message)),
      wayOut(),
    );
  }
}

/** "Back" (to the page before, when there is one) and "Home" (the user's landing page). */
function wayOut() {
  const back = h("button", { type: "button", class: "secondary", on: { click: () => history.back() } }, "Back");
  return h("p", { class: "actions" }, history.length > 1 ? back : null, h("a", { class: "button", href: app.me ? homeFor(app.me) : "#/" }, "Home"));
}

function show(...content) {
  replace(main, ...content);
  main.dataset.route = parseHash().path;
  const heading = main.querySelector("h1");
  document.title = heading ? `${heading.textContent} · facesearch` : "facesearch";
  main.focus({ preventScroll: true });
  const autofocus = main.querySelector("[autofocus]");
  if (autofocus) autofocus.focus({ preventScroll: true });
  if (shownHash !== window.location.hash) window.scrollTo(0, 0);
  shownHash = window.location.hash;
}

app.homeFor = homeFor;
window.addEventListener("hashchange", () => {
  if (!flashFresh) app.clearFlash();
  flashFresh = false; // kept for this navigation only
  route();
});
for (const type of ["pointerdown", "keydown"]) {
  document.addEventListener(type, () => { flashFresh = false; }, { capture: true });
}
window.addEventListener("facesearch:unauthorized", () => {
  if (app.me) {
    app.me = null;
    renderChrome();
    app.flash("Your session has ended: the last action was not saved. Please sign in again.", true);
    app.go(`#/login?next=${encodeURIComponent(window.location.hash)}`);
  }
});
route();
