// Drawing a probe photo with its detected faces (the New search page's picker).

const PICKED = "#ffbf00";
const LIKELY = "#ffffff";
const DOUBTFUL = "#ff5c5c";

/**
 * Draw the probe scaled to at most `max` px, with a numbered box per face: the picked one in
 * amber and thicker, likely faces in white, doubtful detections (low confidence) dashed red
 * with a "?" after their number.
 */
export function drawProbe(canvas, bitmap, faces, picked, max = 480) {
  const scale = Math.min(1, max / Math.max(bitmap.width, bitmap.height));
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  faces.forEach((f) => {
    const [x, y, w, hgt] = f.bbox.map((v) => v * scale);
    const isPicked = f.index === picked;
    ctx.lineWidth = isPicked ? 4 : 2;
    ctx.setLineDash(f.likely_face === false ? [6, 4] : []);
    ctx.strokeStyle = isPicked ? PICKED : f.likely_face === false ? DOUBTFUL : LIKELY;
    ctx.strokeRect(x, y, w, hgt);
    ctx.setLineDash([]);
    const label = `${f.index + 1}${f.likely_face === false ? "?" : ""}`;
    ctx.font = "bold 15px sans-serif";
    const width = ctx.measureText(label).width + 12;
    ctx.fillStyle = "#1a1a1a";
    ctx.fillRect(x, Math.max(0, y - 20), width, 20);
    ctx.fillStyle = isPicked ? PICKED : "#ffffff";
    ctx.fillText(label, x + 6, Math.max(15, y - 5));
  });
}

/** A square crop around a face box, for the face list's buttons. */
export function drawCrop(canvas, bitmap, [x, y, w, hgt]) {
  const side = Math.max(w, hgt) * 1.3;
  const cx = x + w / 2;
  const cy = y + hgt / 2;
  canvas.getContext("2d").drawImage(bitmap, cx - side / 2, cy - side / 2, side, side, 0, 0, canvas.width, canvas.height);
}
