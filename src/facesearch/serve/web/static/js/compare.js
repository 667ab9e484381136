// Side-by-side comparison, the examiner's main screen (FISWG morphological comparison is made
// on it): the probe's searched face and a candidate's face at the same scale, each turned and
// scaled (a similarity transform from its landmarks) so that both pairs of eyes lie on the
// same line at the same distance; zoom and pan linked on both sides, swap sides, an overlay
// with an opacity slider, the landmarks on or off, previous/next candidate and the review keys.
// The faces are the probe's face picture and the gallery's stored crop; "Full-resolution
// candidate" (F) draws the candidate from its full gallery image instead, under the viewer's
// wellbeing rules: blurred outside the face box and/or greyscale, as the user's setting says,
// until a reveal, which is logged first. Crops are greyscale (the setting) until "Show in colour".
//
// The transform of each side is exposed for tests and tools: data-eyes (the two eye centres
// in canvas pixels, read back through the canvas's transform), data-scale (canvas pixels per
// picture pixel), data-zoom, data-face-id, data-side.
import { api } from "./api.js";
import { h, replace } from "./dom.js";
import { probeFor } from "./probe_panel.js";
import { DECISION_WORDS } from "./views/common.js";
import { wellbeing } from "./wellbeing.js";

const W = 360;
const H = 440;
const EYE_Y = 0.42; // the eyes' line, as a share of the height, at zoom 1
const EYE_GAP = 0.3; // the distance between the eyes, as a share of the width, at zoom 1
const ZOOM_STEP = 1.25;
const MIN_ZOOM = 0.5;
const MAX_ZOOM = 8;
const PAN_STEP = 20;
const REVIEW_KEYS = { 1: "possible_match", 2: "not_a_match", 3: "insufficient_quality" };

const landmarkRequests = new Map(); // search id -> Promise of {face id: candidate geometry}

function landmarksOf(searchId) {
  if (!landmarkRequests.has(searchId)) {
    const request = api("GET", `/searches/${searchId}/landmarks`).then((out) => Object.fromEntries(out.candidates.map((c) => [c.face_id, c])));
    request.catch(() => landmarkRequests.delete(searchId));
    landmarkRequests.set(searchId, request);
  }
  return landmarkRequests.get(searchId);
}

/** The matrix placing a face picture on a side: the eyes on the common line (or, without
 * landmarks, the picture fitted and centred), zoomed about the centre and panned. */
export function placement(pic, view) {
  const cx = W / 2;
  const cy = H / 2;
  const zoomed = ([x, y]) => [cx + view.zoom * (x - cx) + view.panX, cy + view.zoom * (y - cy) + view.panY];
  const marks = pic.landmarks || [];
  if (marks.length >= 2) {
    const [p0, p1] = marks; // the eye on the picture's left, then the other
    const T0 = zoomed([W * (0.5 - EYE_GAP / 2), H * EYE_Y]);
    const T1 = zoomed([W * (0.5 + EYE_GAP / 2), H * EYE_Y]);
    const s = Math.hypot(T1[0] - T0[0], T1[1] - T0[1]) / Math.hypot(p1[0] - p0[0], p1[1] - p0[1]);
    const angle = Math.atan2(T1[1] - T0[1], T1[0] - T0[0]) - Math.atan2(p1[1] - p0[1], p1[0] - p0[0]);
    const a = s * Math.cos(angle);
    const b = s * Math.sin(angle);
    return { matrix: new DOMMatrix([a, b, -b, a, T0[0] - (a * p0[0] - b * p0[1]), T0[1] - (b * p0[0] + a * p0[1])]), aligned: true };
  }
  const s = view.zoom * Math.min(W / pic.width, H / pic.height);
  const [e, f] = zoomed([cx - (s / view.zoom) * (pic.width / 2), cy - (s / view.zoom) * (pic.height / 2)]);
  return { matrix: new DOMMatrix([s, 0, 0, s, e, f]), aligned: false };
}

function drawFace(ctx, pic, view, grey, alpha = 1, blur = false) {
  const { matrix, aligned } = placement(pic, view);
  const colour = grey ? "grayscale(1)" : "";
  const layer = (filter, clip) => {
    ctx.save();
    ctx.setTransform(matrix);
    ctx.globalAlpha = alpha;
    if (clip) {
      ctx.beginPath();
      ctx.rect(...clip);
      ctx.clip();
    }
    ctx.filter = filter || "none";
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(pic.bitmap, 0, 0, pic.width, pic.height);
    ctx.restore();
  };
  if (blur && pic.box) {
    // outside the face box blurred (the viewer's rule), the face itself sharp
    layer(`${colour} blur(10px)`.trim(), null);
    layer(colour, pic.box);
  } else {
    layer(colour, null);
  }
  const points = (pic.landmarks || []).map(([x, y]) => matrix.transformPoint(new DOMPoint(x, y)));
  return { points, aligned, scale: Math.hypot(matrix.a, matrix.b) };
}

function drawMarks(ctx, points, colour) {
  if (!points.length) return;
  ctx.save();
  ctx.strokeStyle = "rgba(255, 191, 0, 0.8)";
  ctx.setLineDash([4, 4]);
  ctx.beginPath();
  ctx.moveTo(0, points[0].y);
  ctx.lineTo(W, points[1] ? points[1].y : points[0].y);
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.fillStyle = colour;
  ctx.strokeStyle = "#000";
  for (const p of points) {
    ctx.beginPath();
    ctx.arc(p.x, p.y, 3.5, 0, 2 * Math.PI);
    ctx.fill();
    ctx.stroke();
  }
  ctx.restore();
}

function describe(canvas, side, drawn, view, faceId) {
  const round = (v) => Math.round(v * 10) / 10;
  canvas.dataset.side = side;
  canvas.dataset.eyes = JSON.stringify(drawn.points.slice(0, 2).map((p) => [round(p.x), round(p.y)]));
  canvas.dataset.scale = String(round(drawn.scale * 1000) / 1000);
  canvas.dataset.zoom = String(view.zoom);
  canvas.dataset.aligned = String(drawn.aligned);
  canvas.dataset.faceId = faceId === null ? "" : String(faceId);
}

function clear(ctx) {
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.globalAlpha = 1;
  ctx.fillStyle = "#1b1b1b";
  ctx.fillRect(0, 0, W, H);
}

export async function openCompare(app, ctx) {
  const opener = document.activeElement;
  const greyscale = wellbeing(app).greyscale;
  const shield = wellbeing(app);
  const view = { zoom: 1, panX: 0, panY: 0, swapped: false, overlay: false, opacity: 0.5, marks: true, colour: !greyscale, full: false };
  const revealed = new Set(); // candidates whose full image was revealed (logged) here
  const pictures = new Map(); // face id (or "probe N") -> picture
  const canvas = (id) => h("canvas", { id, width: String(W), height: String(H), tabindex: "0", role: "img", "aria-label": "loading" });
  const left = canvas("compare-left");
  const right = canvas("compare-right");
  const overlay = canvas("compare-overlay");
  overlay.hidden = true;
  const title = h("h2", { id: "compare-title" }, "Side-by-side comparison");
  const status = h("p", { id: "compare-status", role: "status", "aria-live": "polite" }, "Loading the faces…");
  const opacity = h("input", { type: "range", id: "compare-opacity", min: "0", max: "100", value: "50", disabled: true });
  const marksBox = h("input", { type: "checkbox", id: "compare-marks", checked: true });
  const button = (id, label, onClick, attrs = {}) => h("button", { type: "button", class: "secondary", id, on: { click: onClick }, ...attrs }, label);
  const overlayButton = button("compare-overlay-toggle", "Overlay (O)", () => toggleOverlay(), { "aria-pressed": "false" });
  const colourButton = greyscale ? button("compare-colour", "Show in colour", () => toggleColour(), { "aria-pressed": "false" }) : null;
  const fullButton = button("compare-full", "Full-resolution candidate (F)", () => toggleFull(), { "aria-pressed": "false" });
  const revealButton = button("compare-reveal", "Reveal the candidate's image (logged)", () => revealCandidate());
  revealButton.hidden = true;
  const reviewButtons = ctx.decide
    ? h(
        "div",
        { class: "compare-review", role: "group", "aria-label": "Review this candidate" },
        Object.entries(REVIEW_KEYS).map(([key, decision]) =>
          h("button", { type: "button", dataset: { decision }, on: { click: () => review(decision) } }, h("kbd", {}, key), ` ${DECISION_WORDS[decision]}`),
        ),
      )
    : null;
  const close = h("button", { type: "button", id: "compare-close" }, "Close (Esc)");
  const dialog = h(
    "dialog",
    { class: "compare", "aria-labelledby": "compare-title" },
    title,
    status,
    h("div", { class: "compare-stage" }, left, right, overlay),
    h(
      "div",
      { class: "compare-controls" },
      h(
        "div",
        { role: "group", "aria-label": "Candidate" },
        button("compare-prev", "← Previous", () => step(-1)),
        button("compare-next", "Next →", () => step(1)),
      ),
      h(
        "div",
        { role: "group", "aria-label": "Zoom" },
        button("compare-zoom-out", "− Zoom out", () => zoomBy(1 / ZOOM_STEP)),
        button("compare-zoom-in", "+ Zoom in", () => zoomBy(ZOOM_STEP)),
        button("compare-reset", "Reset (0)", () => reset()),
      ),
      h(
        "div",
        { role: "group", "aria-label": "Display" },
        button("compare-swap", "Swap sides (W)", () => swap()),
        overlayButton,
        h("label", { for: opacity.id }, "Candidate opacity"),
        opacity,
        h("label", { class: "check" }, marksBox, " Landmarks (L)"),
        colourButton,
        fullButton,
        revealButton,
      ),
      reviewButtons,
      close,
    ),
    h("p", { class: "hint muted" }, "Keys: ← → candidate, 1 2 3 review, + − 0 zoom, Shift+arrows pan (or drag), wheel zooms, W swap, O overlay, L landmarks, F full-resolution candidate."),
  );
  document.body.append(dialog);
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener && opener.isConnected && opener.focus) opener.focus();
  });
  dialog.showModal();
  close.focus();

  // declared before the first await: listeners added above may draw while it waits
  let current = null; // {probe, probePic, cand, candPic}
  let marks = {};
  try {
    marks = await landmarksOf(ctx.search.search_id);
  } catch (err) {
    status.textContent = `Landmarks unavailable (${err.message}): the faces are fitted, not aligned.`;
  }

  async function probePicture(p) {
    const key = `probe ${p.position}`;
    if (!pictures.has(key)) {
      const fp = p.face_picture;
      pictures.set(key, { bitmap: await createImageBitmap(p.face_blob), width: fp.width, height: fp.height, landmarks: fp.landmarks, label: `probe ${p.position}` });
    }
    return pictures.get(key);
  }

  async function candidatePicture(c) {
    const geometry = marks[c.face_id];
    if (view.full && geometry && geometry.landmarks.length) {
      const key = `${c.face_id} image`;
      if (!pictures.has(key)) {
        // the full gallery image (410 when the original is gone: the crop instead)
        const bitmap = await createImageBitmap(await api("GET", c.image_url, { blob: true }));
        pictures.set(key, { bitmap, width: geometry.image_width, height: geometry.image_height, landmarks: geometry.landmarks, box: geometry.bbox, full: true, label: `candidate ${c.rank}` });
      }
      return pictures.get(key);
    }
    if (!pictures.has(c.face_id)) {
      const bitmap = await createImageBitmap(await api("GET", c.crop_url, { blob: true }));
      const geometry = marks[c.face_id];
      const crop = geometry ? geometry.crop : { width: bitmap.width, height: bitmap.height, landmarks: [] };
      pictures.set(c.face_id, { bitmap, width: crop.width, height: crop.height, landmarks: crop.landmarks, label: `candidate ${c.rank}` });
    }
    return pictures.get(c.face_id);
  }

  async function load() {
    const c = ctx.candidates[ctx.at()];
    const p = probeFor(ctx.probes, c);
    if (!p || !p.face_blob) {
      status.textContent = "The probe is no longer kept (retention) or cannot be shown: nothing to compare.";
      return;
    }
    let candPic;
    try {
      candPic = await candidatePicture(c);
    } catch (err) {
      if (!view.full) {
        status.textContent = `The faces cannot be shown: ${err.message}`;
        return;
      }
      toggleFull(false); // the full image is not available: back to the crop, saying why
      app.flash(`Candidate ${c.rank}'s full image cannot be shown (${err.message}); the crop is shown.`, true);
      return;
    }
    try {
      current = { probe: p, probePic: await probePicture(p), cand: c, candPic };
    } catch (err) {
      status.textContent = `The faces cannot be shown: ${err.message}`;
      return;
    }
    draw();
  }

  function draw() {
    if (!current) return;
    const { probe, probePic, cand, candPic } = current;
    const grey = !view.colour;
    // the full image: the viewer's rules (shielded until a logged reveal)
    const open = revealed.has(cand.face_id);
    const candGrey = candPic.full ? shield.greyscale && !open : grey;
    const candBlur = Boolean(candPic.full && shield.blur_outside_face && !open);
    revealButton.hidden = !(candPic.full && (shield.greyscale || shield.blur_outside_face) && !open);
    const sides = view.swapped ? [["candidate", candPic, cand.face_id], ["probe", probePic, null]] : [["probe", probePic, null], ["candidate", candPic, cand.face_id]];
    for (const [el, [side, pic, faceId]] of [[left, sides[0]], [right, sides[1]]]) {
      const g = el.getContext("2d");
      clear(g);
      const isCand = side === "candidate";
      const drawn = drawFace(g, pic, view, isCand ? candGrey : grey, 1, isCand && candBlur);
      if (view.marks) drawMarks(g, drawn.points, side === "probe" ? "#4fc3f7" : "#ff8a65");
      describe(el, side, drawn, view, faceId);
      el.dataset.source = pic.full ? "image" : side === "probe" ? "probe" : "crop";
      el.dataset.state = isCand && candPic.full ? (candBlur ? "blurred" : candGrey ? "greyscale" : "revealed") : "";
      el.setAttribute("aria-label", `${side === "probe" ? `Probe ${probe.position}` : `Candidate ${cand.rank}`} face, ${drawn.aligned ? "aligned on the eyes" : "not aligned (no landmarks)"}, zoom ${view.zoom.toFixed(2)}`);
    }
    const g = overlay.getContext("2d");
    clear(g);
    const under = drawFace(g, probePic, view, grey);
    const over = drawFace(g, candPic, view, candGrey, view.opacity, candBlur);
    if (view.marks) {
      drawMarks(g, under.points, "#4fc3f7");
      drawMarks(g, over.points, "#ff8a65");
    }
    overlay.setAttribute("aria-label", `Candidate ${cand.rank} over probe ${probe.position}, opacity ${Math.round(view.opacity * 100)}%`);
    overlay.dataset.zoom = String(view.zoom);
    left.hidden = right.hidden = view.overlay;
    overlay.hidden = !view.overlay;
    opacity.disabled = !view.overlay;
    const reviewed = cand.decision ? `reviewed: ${DECISION_WORDS[cand.decision]}` : "not reviewed";
    replace(title, `Probe ${probe.position} and candidate ${cand.rank} of ${ctx.candidates.length}`);
    status.textContent = `Candidate ${cand.rank}: score ${cand.score.toFixed(3)} (${cand.band}), ${reviewed}. ${view.swapped ? "Candidate left, probe right." : "Probe left, candidate right."} Zoom ${view.zoom.toFixed(2)}.${candPic.full ? ` The candidate from its full image${candBlur ? ", blurred outside the face box until revealed" : candGrey ? ", greyscale until revealed" : ""}.` : ""}`;
    dialog.dataset.at = String(ctx.at());
  }

  function zoomBy(factor) {
    view.zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, view.zoom * factor));
    draw();
  }
  function pan(dx, dy) {
    view.panX += dx;
    view.panY += dy;
    draw();
  }
  function reset() {
    Object.assign(view, { zoom: 1, panX: 0, panY: 0 });
    draw();
  }
  function swap() {
    view.swapped = !view.swapped;
    draw();
  }
  function toggleOverlay() {
    view.overlay = !view.overlay;
    overlayButton.setAttribute("aria-pressed", String(view.overlay));
    draw();
  }
  function toggleColour() {
    view.colour = !view.colour;
    colourButton.setAttribute("aria-pressed", String(view.colour));
    replace(colourButton, view.colour ? "Show greyscale" : "Show in colour");
    draw();
  }
  async function toggleFull(on = !view.full) {
    view.full = on;
    fullButton.setAttribute("aria-pressed", String(on));
    await load();
  }
  async function revealCandidate() {
    const c = current && current.cand;
    if (!c) return;
    revealButton.disabled = true;
    try {
      const out = await api("POST", `/searches/${ctx.search.search_id}/candidates/${c.face_id}/reveal`, { json: { reason: "side-by-side comparison" } });
      revealed.add(c.face_id);
      fullButton.focus(); // the reveal button goes away
      app.flash(`Candidate ${c.rank}'s image revealed; recorded as audit entry #${out.audit_seq}.`);
      draw();
    } catch (err) {
      app.flash(`Not revealed: ${err.message}`, true);
    } finally {
      revealButton.disabled = false;
    }
  }
  async function step(delta) {
    const i = ctx.at() + delta;
    if (i < 0 || i >= ctx.candidates.length) return;
    ctx.moveTo(i);
    await load();
  }
  async function review(decision) {
    await ctx.decide(decision);
    await load();
  }

  opacity.addEventListener("input", () => {
    view.opacity = Number(opacity.value) / 100;
    draw();
  });
  marksBox.addEventListener("change", () => {
    view.marks = marksBox.checked;
    draw();
  });
  for (const el of [left, right, overlay]) {
    el.addEventListener("wheel", (event) => {
      event.preventDefault();
      zoomBy(event.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP);
    });
    el.addEventListener("pointerdown", (event) => {
      const ratio = el.width / el.getBoundingClientRect().width;
      let last = [event.clientX, event.clientY];
      el.setPointerCapture(event.pointerId);
      const move = (e) => {
        pan((e.clientX - last[0]) * ratio, (e.clientY - last[1]) * ratio);
        last = [e.clientX, e.clientY];
      };
      const up = () => {
        el.removeEventListener("pointermove", move);
        el.removeEventListener("pointerup", up);
      };
      el.addEventListener("pointermove", move);
      el.addEventListener("pointerup", up);
    });
  }
  dialog.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const t = event.target;
    const key = event.key;
    if (t.closest && t.closest("input") && (t.type !== "checkbox" || key.startsWith("Arrow"))) return;
    const arrows = { ArrowLeft: [-PAN_STEP, 0], ArrowRight: [PAN_STEP, 0], ArrowUp: [0, -PAN_STEP], ArrowDown: [0, PAN_STEP] };
    if (event.shiftKey && arrows[key]) pan(...arrows[key]);
    else if (key === "ArrowLeft") step(-1);
    else if (key === "ArrowRight") step(1);
    else if (key === "+" || key === "=") zoomBy(ZOOM_STEP);
    else if (key === "-" || key === "_") zoomBy(1 / ZOOM_STEP);
    else if (key === "0") reset();
    else if (["w", "W"].includes(key)) swap();
    else if (["o", "O"].includes(key)) toggleOverlay();
    else if (["f", "F"].includes(key)) toggleFull();
    else if (["l", "L"].includes(key)) {
      marksBox.checked = !marksBox.checked;
      view.marks = marksBox.checked;
      draw();
    } else if (ctx.decide && REVIEW_KEYS[key]) review(REVIEW_KEYS[key]);
    else return;
    event.preventDefault();
  });
  await load();
}
