// The full image of a candidate, for investigator wellbeing shown blurred outside the face box
// (and greyscale, per the user's wellbeing setting) until the user chooses to reveal it; a
// reveal is recorded in the audit chain (the API call comes first, the image is only shown
// whole once it has been logged). With neither blur nor greyscale set there is no reveal step.
// Zoom (buttons, + and -, the wheel) and pan (drag, arrow keys on the picture) redraw the
// canvas; data-zoom on it says the zoom.
import { api } from "./api.js";
import { field, h, input, replace } from "./dom.js";
import { wellbeing } from "./wellbeing.js";

const MAX_SIDE = 1000;
const ZOOM_STEP = 1.25;
const MAX_ZOOM = 10;
const PAN_STEP = 40;

export async function openViewer(app, search, candidate, candidates) {
  const opener = document.activeElement;
  const shield = wellbeing(app);
  const shielded = shield.blur_outside_face || shield.greyscale;
  const hiddenWords = [shield.blur_outside_face ? "blurred outside the face box" : "", shield.greyscale ? "greyscale" : ""].filter(Boolean).join(", ");
  const canvas = h("canvas", { id: "full-image", tabindex: "0", role: "img", "aria-label": `Full image of candidate ${candidate.rank}${shielded ? `, ${hiddenWords}` : ""}`, dataset: { state: "loading", zoom: "1" } });
  const view = { zoom: 1, panX: 0, panY: 0 };
  let shown = !shielded; // revealed (or nothing to reveal)
  const zoomIn = h("button", { type: "button", class: "secondary", id: "viewer-zoom-in" }, "+ Zoom in");
  const zoomOut = h("button", { type: "button", class: "secondary", id: "viewer-zoom-out" }, "− Zoom out");
  const zoomReset = h("button", { type: "button", class: "secondary", id: "viewer-zoom-reset" }, "Fit (0)");
  const reason = input("reveal_reason", { id: "reveal-reason", placeholder: "why the whole image is needed" });
  const reveal = h("button", { type: "button", id: "reveal" }, "Reveal the whole image (logged)");
  const close = h("button", { type: "button", class: "secondary", id: "close-viewer" }, "Close (Esc)");
  const notice = h("p", { class: "viewer-notice", role: "status", "aria-live": "polite" }, "Loading the image…");
  const others = candidates.filter((o) => o !== candidate && o.image_sha256 === candidate.image_sha256 && o.bbox);
  const dialog = h(
    "dialog",
    { class: "viewer", "aria-labelledby": "viewer-title" },
    h("h2", { id: "viewer-title" }, `Candidate ${candidate.rank}: the full image`),
    notice,
    h("div", { class: "viewer-zoom", role: "group", "aria-label": "Zoom" }, zoomOut, zoomIn, zoomReset, h("span", { class: "muted" }, "Drag or use the arrow keys on the picture to pan; the wheel zooms.")),
    canvas,
    others.length ? h("p", {}, `Other faces of this image in the results (dashed): ${others.map((o) => `#${o.rank}`).join(", ")}.`) : null,
    shielded ? h("div", { class: "actions" }, field("Reason for revealing (optional)", reason), reveal, close) : h("div", { class: "actions" }, close),
  );
  document.body.append(dialog);
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener && opener.focus) opener.focus();
  });
  dialog.showModal();

  let bitmap;
  try {
    bitmap = await createImageBitmap(await api("GET", candidate.image_url, { blob: true }));
  } catch (err) {
    // 410: the original is gone (not kept, and no longer where it was ingested from): the
    // server says why, in words for the examiner (app/faces.py unavailable_reason)
    const gone = err.status === 410;
    notice.textContent = gone ? `${err.message[0].toUpperCase()}${err.message.slice(1)}.` : `The image cannot be shown: ${err.message}`;
    canvas.dataset.state = gone ? "gone" : "error";
    reveal.disabled = true;
    return;
  }
  const redraw = () => draw(canvas, bitmap, candidate, others, shown ? null : shield, view);
  redraw();
  const zoomBy = (factor) => {
    view.zoom = Math.min(MAX_ZOOM, Math.max(1, view.zoom * factor));
    redraw();
  };
  const pan = (dx, dy) => {
    view.panX += dx;
    view.panY += dy;
    redraw();
  };
  zoomIn.addEventListener("click", () => zoomBy(ZOOM_STEP));
  zoomOut.addEventListener("click", () => zoomBy(1 / ZOOM_STEP));
  zoomReset.addEventListener("click", () => {
    Object.assign(view, { zoom: 1, panX: 0, panY: 0 });
    redraw();
  });
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoomBy(event.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP);
  });
  canvas.addEventListener("pointerdown", (event) => {
    const ratio = canvas.width / canvas.getBoundingClientRect().width;
    let last = [event.clientX, event.clientY];
    canvas.setPointerCapture(event.pointerId);
    const move = (e) => {
      pan((e.clientX - last[0]) * ratio, (e.clientY - last[1]) * ratio);
      last = [e.clientX, e.clientY];
    };
    const up = () => {
      canvas.removeEventListener("pointermove", move);
      canvas.removeEventListener("pointerup", up);
    };
    canvas.addEventListener("pointermove", move);
    canvas.addEventListener("pointerup", up);
  });
  dialog.addEventListener("keydown", (event) => {
    if (event.target.closest && event.target.closest("input")) return;
    const arrows = { ArrowLeft: [PAN_STEP, 0], ArrowRight: [-PAN_STEP, 0], ArrowUp: [0, PAN_STEP], ArrowDown: [0, -PAN_STEP] };
    if (event.target === canvas && arrows[event.key]) pan(...arrows[event.key]);
    else if (event.key === "+" || event.key === "=") zoomBy(ZOOM_STEP);
    else if (event.key === "-") zoomBy(1 / ZOOM_STEP);
    else if (event.key === "0") zoomReset.click();
    else return;
    event.preventDefault();
  });
  if (!shielded) {
    notice.textContent = "Shown whole (your wellbeing setting: no blur, in colour).";
    close.focus();
    return;
  }
  notice.textContent = `${shield.blur_outside_face ? "Outside the face box the image is blurred" : "The image is shown"}${shield.greyscale ? " in greyscale" : ""}. Revealing it is recorded in the audit log.`;
  reveal.focus();

  reveal.addEventListener("click", async () => {
    reveal.disabled = true;
    try {
      const out = await api("POST", `/searches/${search.search_id}/candidates/${candidate.face_id}/reveal`, {
        json: { reason: reason.value.trim() },
      });
      shown = true;
      redraw();
      canvas.setAttribute("aria-label", `Full image of candidate ${candidate.rank}, revealed`);
      notice.textContent = `Revealed; recorded as audit entry #${out.audit_seq}.`;
      replace(reveal, "Revealed");
    } catch (err) {
      reveal.disabled = false;
      notice.textContent = `Not revealed: ${err.message}`;
    }
  });
}

/** Draw the image (under `shield`: blurred except inside the face box, greyscale, as the
 * setting says; null: whole), the box and the others, zoomed about the centre and panned. */
function draw(canvas, bitmap, candidate, others, shield, view) {
  const fit = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  canvas.width = Math.round(bitmap.width * fit);
  canvas.height = Math.round(bitmap.height * fit);
  // the pan is kept within the picture: some of it always stays on the canvas
  const maxX = (canvas.width * (view.zoom - 1)) / 2;
  const maxY = (canvas.height * (view.zoom - 1)) / 2;
  view.panX = Math.max(-maxX, Math.min(maxX, view.panX));
  view.panY = Math.max(-maxY, Math.min(maxY, view.panY));
  const scale = fit * view.zoom;
  const ox = (canvas.width - bitmap.width * scale) / 2 + view.panX;
  const oy = (canvas.height - bitmap.height * scale) / 2 + view.panY;
  const ctx = canvas.getContext("2d");
  const full = () => ctx.drawImage(bitmap, ox, oy, bitmap.width * scale, bitmap.height * scale);
  const box = candidate.bbox ? [ox + candidate.bbox[0] * scale, oy + candidate.bbox[1] * scale, candidate.bbox[2] * scale, candidate.bbox[3] * scale] : null;
  const grey = shield && shield.greyscale ? "grayscale(1) " : "";
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (shield && shield.blur_outside_face) {
    ctx.filter = `${grey}blur(${Math.max(12, Math.round((Math.max(canvas.width, canvas.height) / 40) * view.zoom))}px)`;
    full();
    ctx.filter = grey || "none";
    if (box) {
      ctx.save();
      ctx.beginPath();
      ctx.rect(box[0], box[1], box[2], box[3]);
      ctx.clip();
      full();
      ctx.restore();
    }
  } else {
    ctx.filter = grey || "none";
    full();
  }
  ctx.filter = "none";
  ctx.lineWidth = 3;
  if (box) {
    ctx.strokeStyle = "#ffbf00";
    ctx.strokeRect(box[0], box[1], box[2], box[3]);
  }
  ctx.setLineDash([6, 4]);
  ctx.strokeStyle = "#ffffff";
  for (const o of others) {
    ctx.strokeRect(ox + o.bbox[0] * scale, oy + o.bbox[1] * scale, o.bbox[2] * scale, o.bbox[3] * scale);
  }
  ctx.setLineDash([]);
  canvas.dataset.state = !shield ? "revealed" : shield.blur_outside_face ? "blurred" : "greyscale";
  canvas.dataset.zoom = String(Math.round(view.zoom * 1000) / 1000);
}
