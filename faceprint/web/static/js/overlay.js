// Face boxes and labels drawn over an image or a video, positioned in percent of the picture so they follow its size.

import { h } from "./dom.js";

/**
 * Replace the boxes in `overlay` by one per face. `width`/`height` are the picture's pixel size the boxes are in.
 * `describe(face, index)` returns {label, kind} where kind is "known", "unknown" or "neutral".
 */
export function drawFaces(overlay, faces, width, height, describe) {
  const boxes = faces.map((face, index) => {
    const [x, y, w, hgt] = face.box;
    const { label, kind } = describe(face, index);
    const box = h("div", { class: `face-box face-${kind}`, "data-label": label },
      h("span", { class: "face-label", text: label }));
    box.style.left = `${(100 * Math.max(0, x)) / width}%`;
    box.style.top = `${(100 * Math.max(0, y)) / height}%`;
    box.style.width = `${(100 * Math.min(w, width - Math.max(0, x))) / width}%`;
    box.style.height = `${(100 * Math.min(hgt, height - Math.max(0, y))) / height}%`;
    if (y / height < 0.08) box.classList.add("label-below");
    return box;
  });
  overlay.replaceChildren(...boxes);
  keepLabelsInside(overlay);
}

/** Anchor a label to its box's right edge when it would stick out of the picture on the right. */
function keepLabelsInside(overlay) {
  const right = overlay.getBoundingClientRect().right;
  for (const label of overlay.querySelectorAll(".face-label")) {
    if (label.getBoundingClientRect().right > right + 1) label.parentElement.classList.add("label-end");
  }
}

/** Remove every box. */
export const clearFaces = (overlay) => overlay.replaceChildren();
