// Face boxes and labels drawn over an image or a video, positioned in percent of the picture so they follow its size.
//
// Boxes may carry their number (1, 2, ... as in the list beside the picture). Labels never cover each other or
// another face: when full labels would (a crowded photo, a phone screen), the boxes show only their numbers, and
// the list says who is who. Boxes may also be buttons, to pick one face of several.

import { h } from "./dom.js";

/**
 * Replace the boxes in `overlay` by one per face. `width`/`height` are the picture's pixel size the boxes are in.
 * `describe(face, index)` returns {label, kind} where kind is "known", "unknown" or "neutral".
 * Options: `numbered` puts the face's number (from 1) on its box; `pick(index)` makes every box a button that
 * calls it (`selected` is the index of the chosen face, if any).
 */
export function drawFaces(overlay, faces, width, height, describe, { numbered = false, pick = null, selected = null }
  = {}) {
  const boxes = faces.map((face, index) => {
    const [x, y, w, hgt] = face.box;
    const { label, kind } = describe(face, index);
    const number = numbered ? h("span", { class: "face-number", text: String(index + 1) }) : null;
    const text = label ? h("span", { class: "face-text", text: label }) : null;
    const caption = number || text ? h("span", { class: "face-label" }, number, number && text ? " " : null, text)
      : null;
    const box = pick
      ? h("button", {
        type: "button", class: `face-box face-${kind} face-pick`, "data-label": label,
        "aria-label": `Use face ${index + 1}${label ? ` (${label})` : ""}`,
        "aria-pressed": String(selected === index), onclick: () => pick(index),
      }, caption)
      : h("div", { class: `face-box face-${kind}`, "data-label": label, title: label || null }, caption);
    box.style.left = `${(100 * Math.max(0, x)) / width}%`;
    box.style.top = `${(100 * Math.max(0, y)) / height}%`;
    box.style.width = `${(100 * Math.min(w, width - Math.max(0, x))) / width}%`;
    box.style.height = `${(100 * Math.min(hgt, height - Math.max(0, y))) / height}%`;
    if (y / height < 0.08) box.classList.add("label-below");
    return box;
  });
  overlay.classList.remove("numbers-only");
  overlay.classList.toggle("numbered", numbered);
  overlay.classList.toggle("pickable", Boolean(pick));
  if (pick) overlay.removeAttribute("aria-hidden");
  else overlay.setAttribute("aria-hidden", "true");
  overlay.replaceChildren(...boxes);
  arrangeLabels(overlay);
  watchSize(overlay);
}

// The picture may load or change size after the boxes are drawn (a new photo, a phone turned): arrange again.
const watched = new WeakSet();
const resizes = typeof ResizeObserver === "function"
  ? new ResizeObserver((entries) => entries.forEach((entry) => rearrange(entry.target))) : null;

function watchSize(overlay) {
  if (!resizes || watched.has(overlay)) return;
  watched.add(overlay);
  resizes.observe(overlay);
}

function rearrange(overlay) {
  overlay.classList.remove("numbers-only");
  for (const box of overlay.querySelectorAll(".face-box")) box.classList.remove("label-end", ...CORNERS);
  arrangeLabels(overlay);
}

const rect = (element) => element.getBoundingClientRect();
const overlaps = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
const inside = (a, area) => a.left >= area.left - 1 && a.right <= area.right + 1 && a.top >= area.top - 1
  && a.bottom <= area.bottom + 1;

/** Whether a label is cut by the picture's edge, covers another label, or covers another face's box. */
function labelsCollide(overlay) {
  const area = rect(overlay);
  const boxes = [...overlay.querySelectorAll(".face-box")];
  const labels = boxes.map((box) => box.querySelector(".face-label"));
  return labels.some((label, i) => {
    if (!label) return false;
    const own = rect(label);
    if (!inside(own, area)) return true;
    return boxes.some((box, j) => j !== i && (overlaps(own, rect(box))
      || (labels[j] && overlaps(own, rect(labels[j])))));
  });
}

/** Keep labels inside the picture (anchored right where needed); on numbered boxes, when full labels would be cut
 * or cover each other or another face, show only the numbers, inside each box's corner (the list says who is who). */
function arrangeLabels(overlay) {
  if (!overlay.isConnected || !overlay.getClientRects().length) return; // not laid out (hidden): nothing to measure
  const area = rect(overlay);
  if (!area.width || !area.height) return;
  for (const label of overlay.querySelectorAll(".face-label")) {
    if (rect(label).right > area.right + 1) label.parentElement.classList.add("label-end");
  }
  if (overlay.classList.contains("numbered") && labelsCollide(overlay)) {
    overlay.classList.add("numbers-only");
    moveCoveringNumbers(overlay);
  }
}

const CORNERS = ["corner-tr", "corner-bl", "corner-br"];

/** Where boxes overlap, a number in its box's top-left corner may lie on the other face: try the other corners. */
function moveCoveringNumbers(overlay) {
  const boxes = [...overlay.querySelectorAll(".face-box")];
  boxes.forEach((box, i) => {
    const label = box.querySelector(".face-label");
    if (!label) return;
    const covers = () => boxes.some((other, j) => j !== i && overlaps(rect(label), rect(other)));
    for (const corner of CORNERS) {
      if (!covers()) return;
      box.classList.remove(...CORNERS);
      box.classList.add(corner);
    }
    if (covers()) box.classList.remove(...CORNERS);
  });
}

/** Remove every box. */
export const clearFaces = (overlay) => {
  overlay.classList.remove("numbers-only", "numbered", "pickable");
  overlay.setAttribute("aria-hidden", "true");
  overlay.replaceChildren();
};
