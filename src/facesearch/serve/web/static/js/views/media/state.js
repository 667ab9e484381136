// What the Media page remembers while the app runs (not stored): which sections and persons
// are open, per case, so that the page shown again after a review decision or an upload keeps
// them as they were; and the user's wellbeing setting as the server applies it.

const opened = new Map(); // case number -> Map(key -> open?)

/** Whether `key` (a section id, or "person-N") of case `number` is open; `fallback` at first. */
export function isOpen(number, key, fallback) {
  const mine = opened.get(number);
  return mine && mine.has(key) ? mine.get(key) : fallback;
}

export function setOpen(number, key, open) {
  if (!opened.has(number)) opened.set(number, new Map());
  opened.get(number).set(key, open);
}

/** The signed-in user's wellbeing setting (GET /auth/me); the server applies the same one. */
export function wellbeingOf(app) {
  return (app.me && app.me.wellbeing) ?? { greyscale: false, blur_outside_face: true };
}

/** How a face's picture is shown, in words: "greyscale, blurred outside the face box". */
export function shownAs(wb) {
  return `${wb.greyscale ? "greyscale" : "in colour"}, ${wb.blur_outside_face ? "blurred outside the face box" : "not blurred"}`;
}
