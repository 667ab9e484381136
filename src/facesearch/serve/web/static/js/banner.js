// The banner every signed-in user sees while all searching is suspended (an administrator's
// decision, EU AI Act Art. 26(5)): asked of the server on each page, so that it appears and
// goes away for everyone without a reload.
import { api } from "./api.js";
import { h, replace } from "./dom.js";

let box = null;

function banner() {
  if (!box || !box.isConnected) {
    box = h("div", { id: "suspension-banner", class: "suspension-banner", role: "status", "aria-live": "polite" });
    const main = document.getElementById("main");
    main.parentNode.insertBefore(box, main);
  }
  return box;
}

/** Show (or clear) the suspension banner; errors (signed out, offline) clear it quietly. */
export async function showSuspension(signedIn) {
  const el = banner();
  if (!signedIn) {
    replace(el);
    return;
  }
  try {
    const state = await api("GET", "/suspension");
    if (state.suspended) {
      replace(el, h("p", { class: "msg error" }, h("strong", {}, "Searching is suspended. "), `${state.message[0].toUpperCase()}${state.message.slice(1)}.`));
    } else {
      replace(el);
    }
  } catch {
    replace(el);
  }
}
