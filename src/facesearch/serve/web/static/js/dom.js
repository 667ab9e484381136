// Small DOM helpers: elements are built with createElement and textContent only (never
// innerHTML), so nothing from the server is ever parsed as markup.

/**
 * Make an element. attrs: `class`, `for`, `on` ({event: handler}), `dataset`, boolean
 * properties (disabled, checked, hidden, required, multiple, selected), anything else as an
 * attribute. Children: nodes, strings (as text), arrays, null/false/undefined (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "for") el.htmlFor = value;
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (["disabled", "checked", "hidden", "required", "multiple", "selected"].includes(key)) el[key] = Boolean(value);
    else if (key === "value") el.value = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let idCounter = 0;
/** A unique id for label/control pairs. */
export function uid(prefix = "f") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A labelled form field: returns the wrapper; the control is reachable as `.control`. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid();
  const hintEl = hint ? h("span", { class: "hint", id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  const wrapper = h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
  wrapper.control = control;
  return wrapper;
}

export function input(name, attrs = {}) {
  return h("input", { name, type: "text", ...attrs });
}

export function select(name, options, attrs = {}) {
  return h(
    "select",
    { name, ...attrs },
    options.map(([value, label]) => h("option", { value }, label)),
  );
}

/** Replace the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

/**
 * A table of `rows` under `headers` (strings or {label, num}), in its own scrollable region:
 * on a narrow screen a wide table scrolls sideways inside that region, never the page. The
 * region is named by the caption.
 */
export function table(headers, rows, caption) {
  const el = h(
    "table",
    {},
    caption ? h("caption", { class: "hidden" }, caption) : null,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col", class: x.num ? "num" : null }, x.label ?? x)))),
    h("tbody", {}, rows),
  );
  const region = h("div", { class: "table-scroll", role: "region", "aria-label": caption || "Table" }, el);
  // focusable only while it scrolls (a keyboard user then scrolls it with the arrow keys)
  new ResizeObserver(() => {
    if (region.scrollWidth > region.clientWidth + 1) region.setAttribute("tabindex", "0");
    else region.removeAttribute("tabindex");
  }).observe(region);
  return region;
}

/**
 * Ask before an action that cannot be undone from the page (close a case, revoke a token,
 * disable a user): an in-page modal <dialog> (not window.confirm, which cannot be styled or
 * labelled), focus moved into it on the safe choice and given back to `returnTo` afterwards.
 * Resolves true when confirmed; Escape or "Cancel" resolve false.
 */
export function confirmDialog(message, confirmLabel, returnTo = document.activeElement) {
  return new Promise((resolve) => {
    const headingId = uid("confirm");
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
    const ok = h("button", { type: "button", class: "danger" }, confirmLabel);
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": headingId },
      h("p", { id: headingId }, message),
      h("div", { class: "actions" }, cancel, ok),
    );
    let answer = false;
    cancel.addEventListener("click", () => dialog.close());
    ok.addEventListener("click", () => {
      answer = true;
      dialog.close();
    });
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (returnTo && returnTo.isConnected) returnTo.focus();
      resolve(answer);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/**
 * A "Copy" button for `target`'s text (a secret shown once): the clipboard where the browser
 * allows it (a secure context), else the text is selected for Ctrl+C; either way the button
 * says what happened.
 */
export function copyButton(target, label = "Copy") {
  const button = h("button", { type: "button", class: "secondary copy" }, label);
  const state = h("span", { class: "copy-state", role: "status" });
  button.addEventListener("click", async () => {
    try {
      if (!navigator.clipboard || !navigator.clipboard.writeText) throw new Error("no clipboard");
      await navigator.clipboard.writeText(target.textContent);
      button.textContent = "Copied";
      state.textContent = "Copied to the clipboard.";
    } catch {
      const range = document.createRange();
      range.selectNodeContents(target);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      state.textContent = "Selected: press Ctrl+C (or ⌘+C) to copy.";
    }
  });
  return h("span", { class: "copy-box" }, button, " ", state);
}
