// The full image of a candidate, for investigator wellbeing shown blurred outside the face box
// until the user chooses to reveal it; a reveal is recorded in the audit chain (the API call
// comes first, the image is only un-blurred once it has been logged).
import { api } from "./api.js";
import { field, h, input, replace } from "./dom.js";

const MAX_SIDE = 1000;

export async function openViewer(app, search, candidate, candidates) {
  const opener = document.activeElement;
  const canvas = h("canvas", { id: "full-image", role: "img", "aria-label": `Full image of candidate ${candidate.rank}, blurred outside the face box`, dataset: { state: "loading" } });
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
    canvas,
    others.length ? h("p", {}, `Other faces of this image in the results (dashed): ${others.map((o) => `#${o.rank}`).join(", ")}.`) : null,
    h("div", { class: "actions" }, field("Reason for revealing (optional)", reason), reveal, close),
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
  draw(canvas, bitmap, candidate, others, true);
  notice.textContent = "Outside the face box the image is blurred. Revealing it is recorded in the audit log.";
  reveal.focus();

  reveal.addEventListener("click", async () => {
    reveal.disabled = true;
    try {
      const out = await api("POST", `/searches/${search.search_id}/candidates/${candidate.face_id}/reveal`, {
        json: { reason: reason.value.trim() },
      });
      draw(canvas, bitmap, candidate, others, false);
      canvas.setAttribute("aria-label", `Full image of candidate ${candidate.rank}, revealed`);
      notice.textContent = `Revealed; recorded as audit entry #${out.audit_seq}.`;
      replace(reveal, "Revealed");
    } catch (err) {
      reveal.disabled = false;
      notice.textContent = `Not revealed: ${err.message}`;
    }
  });
}

/** Draw the image (blurred except inside the face box when `blurred`), the box, the others. */
function draw(canvas, bitmap, candidate, others, blurred) {
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const ctx = canvas.getContext("2d");
  const box = candidate.bbox ? candidate.bbox.map((v) => v * scale) : null;
  if (blurred) {
    ctx.filter = `blur(${Math.max(12, Math.round(Math.max(canvas.width, canvas.height) / 40))}px)`;
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    ctx.filter = "none";
    if (box) {
      ctx.save();
      ctx.beginPath();
      ctx.rect(box[0], box[1], box[2], box[3]);
      ctx.clip();
      ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      ctx.restore();
    }
  } else {
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  }
  ctx.lineWidth = 3;
  if (box) {
    ctx.strokeStyle = "#ffbf00";
    ctx.strokeRect(box[0], box[1], box[2], box[3]);
  }
  ctx.setLineDash([6, 4]);
  ctx.strokeStyle = "#ffffff";
  for (const o of others) {
    const [x, y, w, hgt] = o.bbox.map((v) => v * scale);
    ctx.strokeRect(x, y, w, hgt);
  }
  ctx.setLineDash([]);
  canvas.dataset.state = blurred ? "blurred" : "revealed";
}
