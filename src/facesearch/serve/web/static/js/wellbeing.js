// The signed-in user's wellbeing setting (GET /auth/me: `wellbeing`), applied alike to the
// results' crops, the probe, the comparison and the full-image viewer:
//   greyscale          pictures shown greyscale until the user asks for colour
//   blur_outside_face  the full image blurred outside the face box until revealed (logged)
// Without the setting (an older server): colour, and the blur on, as before.

const DEFAULT = { greyscale: false, blur_outside_face: true };

export function wellbeing(app) {
  return { ...DEFAULT, ...((app && app.me && app.me.wellbeing) || {}) };
}

/** The CSS class of a picture under the setting ("wb-grey": greyscale until shown in colour). */
export function pictureClass(app, base = "") {
  return `${base}${wellbeing(app).greyscale ? " wb-grey" : ""}`.trim();
}
