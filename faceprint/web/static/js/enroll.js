// Enroll page: a name and photos; each photo is previewed with the face found in it, then all are sent at once.

import { ApiError, api, imageForm } from "./api.js";
import { canEdit, h, setStatus } from "./dom.js";
import { dropzone, refusedMessage } from "./dropzone.js";
import { drawFaces } from "./overlay.js";

const MIN_FACE_PX = 60;

const form = document.getElementById("enroll-form");
const nameInput = document.getElementById("person-name");
const fileInput = document.getElementById("enroll-photos");
const list = document.getElementById("enroll-previews");
const status = document.getElementById("enroll-status");
const submit = document.getElementById("enroll-submit");
const reset = document.getElementById("enroll-reset");

let items = [];
let nextId = 1;
let detections = Promise.resolve();
let busy = false;

function setItemStatus(item, kind, text) {
  item.statusLine.textContent = text;
  item.statusLine.dataset.kind = kind;
  item.card.dataset.state = kind;
}

/** What the detector's answer means for enrollment; a photo with several faces asks which one to use. */
function judgeDetection(item, result) {
  item.faces = result.faces || [];
  item.size = [result.width, result.height];
  item.choice = null;
  drawPreview(item);
}

function drawPreview(item) {
  const faces = item.faces;
  const [width, height] = item.size;
  if (faces.length > 1) {
    drawFaces(item.overlay, faces, width, height, (face, index) => ({
      label: "", kind: item.choice === index ? "known" : "unknown",
    }), { numbered: true, pick: (index) => choose(item, index), selected: item.choice });
  } else {
    drawFaces(item.overlay, faces, width, height, () => ({ label: "Face", kind: "known" }));
  }
  if (faces.length === 0) {
    setItemStatus(item, "error", "No face found: this photo will be rejected.");
  } else if (faces.length > 1 && item.choice === null) {
    setItemStatus(item, "warning",
      `${faces.length} faces found: click the face of the person to enroll, or remove this photo.`);
  } else if (faces.length > 1) {
    setItemStatus(item, "success", `Face ${item.choice + 1} of ${faces.length} chosen: only that face will be `
      + "enrolled. Click another face to change it.");
  } else if (Math.min(faces[0].box[2], faces[0].box[3]) < MIN_FACE_PX) {
    setItemStatus(item, "warning", "One face found, but it is small: this photo may be rejected as too small.");
  } else {
    setItemStatus(item, "success", "One face found.");
  }
}

/** Use face `index` (from 0) of a photo with several faces. */
function choose(item, index) {
  if (busy) return;
  if (items.some((other) => other.result)) clearResults();
  item.choice = index;
  drawPreview(item);
  item.overlay.querySelectorAll(".face-pick")[index]?.focus();
  setStatus(status, "info", `Face ${index + 1} of ${item.faces.length} chosen in ${item.file.name}.`);
}

/** A rejection reason as a person reads it on this page: faces count from 1, and a photo with several faces says
 * how to pick one here. */
function readableReason(reason) {
  const several = /(\d+) faces found/.exec(reason || "");
  if (several) return `${several[1]} faces found: click the face to use in the photo above, then press Enroll again.`;
  return reason || "no reason given";
}

function detect(item) {
  detections = detections.then(async () => {
    if (!items.includes(item)) return;
    try {
      judgeDetection(item, await api("/detect", { method: "POST", body: imageForm(item.file, item.file.name) }));
    } catch (error) {
      setItemStatus(item, "error", error instanceof ApiError ? error.message : "This photo could not be checked.");
    }
  });
}

function addFiles(files, refused) {
  if (busy) return;
  if (items.some((item) => item.result)) clearResults();
  for (const file of files) {
    const url = URL.createObjectURL(file);
    const overlay = h("div", { class: "overlay", "aria-hidden": "true" });
    const statusLine = h("p", { class: "preview-status", "data-kind": "busy", text: "Looking for faces…" });
    const item = { id: nextId++, file, url, overlay, statusLine };
    const remove = h("button", {
      type: "button", class: "button button-small", "aria-label": `Remove ${file.name}`, text: "Remove",
      onclick: () => removeItem(item),
    });
    item.remove = remove;
    item.card = h("li", { class: "preview", "data-state": "busy" },
      h("div", { class: "preview-picture" },
        h("figure", { class: "stage" }, h("img", { src: url, alt: `Photo ${file.name}` }), overlay)),
      h("div", { class: "preview-body" }, h("p", { class: "preview-name", text: file.name }), statusLine, remove));
    items.push(item);
    list.append(item.card);
    detect(item);
  }
  if (refused.length) setStatus(status, "error", refusedMessage(refused));
  else if (files.length) setStatus(status, "info", `${items.length} photo${items.length === 1 ? "" : "s"} selected.`);
}

function removeItem(item) {
  if (busy) return;
  items = items.filter((other) => other !== item);
  URL.revokeObjectURL(item.url);
  item.card.remove();
  setStatus(status, "info", `Removed ${item.file.name}. ${items.length} photo${items.length === 1 ? "" : "s"} left.`);
  fileInput.focus();
}

function clearResults() {
  for (const item of items) {
    item.result = null;
    item.card.querySelector(".preview-result")?.remove();
  }
}

/** Show each photo's outcome; `outcomes` maps a photo's item to its answer. */
function showOutcomes(outcomes) {
  for (const [item, outcome] of outcomes) {
    if (!items.includes(item)) continue;
    item.result = outcome;
    item.card.querySelector(".preview-result")?.remove();
    const text = outcome.accepted
      ? (outcome.created === false ? "Accepted (this photo was already enrolled)." : "Accepted.")
      : `Rejected: ${readableReason(outcome.reason)}`;
    item.card.dataset.state = outcome.accepted ? "accepted" : "rejected";
    item.statusLine.after(h("p", {
      class: `preview-result ${outcome.accepted ? "accepted" : "rejected"}`, text,
    }));
  }
}

function setBusy(value) {
  busy = value;
  submit.disabled = value;
  reset.disabled = value;
  fileInput.disabled = value;
  nameInput.readOnly = value;
  form.setAttribute("aria-busy", String(value));
  for (const item of items) {
    item.remove.disabled = value;
    for (const button of item.overlay.querySelectorAll("button")) button.disabled = value;
  }
}

/** The requests an enrollment needs: the photos with one face together, and each photo with a chosen face on its
 * own, naming that face by its box. */
function requestGroups() {
  const chosen = items.filter((item) => item.choice !== null && item.choice !== undefined);
  const plain = items.filter((item) => !chosen.includes(item));
  return [
    ...(plain.length ? [{ items: plain }] : []),
    ...chosen.map((item) => ({ items: [item], face: item.faces[item.choice].box.map(Math.round).join(",") })),
  ];
}

async function enroll(event) {
  event.preventDefault();
  if (busy) return;
  const name = nameInput.value.trim();
  nameInput.removeAttribute("aria-invalid");
  if (!name) {
    nameInput.setAttribute("aria-invalid", "true");
    setStatus(status, "error", "Enter the person's name.");
    nameInput.focus();
    return;
  }
  if (name.includes("/")) {
    nameInput.setAttribute("aria-invalid", "true");
    setStatus(status, "error", "A name may not contain “/”.");
    nameInput.focus();
    return;
  }
  if (!items.length) {
    setStatus(status, "error", "Add at least one photo of the person.");
    fileInput.focus();
    return;
  }
  const undecided = items.filter((item) => item.faces?.length > 1 && item.choice === null);
  if (undecided.length) {
    setStatus(status, "error", `${undecided.map((item) => item.file.name).join(", ")} `
      + `${undecided.length === 1 ? "shows" : "show"} several faces: click the face of ${name} in `
      + `${undecided.length === 1 ? "it" : "each"}, or remove ${undecided.length === 1 ? "it" : "them"}.`);
    undecided[0].overlay.querySelector(".face-pick")?.focus();
    return;
  }
  setBusy(true);
  setStatus(status, "busy", `Enrolling ${name} from ${items.length} photo${items.length === 1 ? "" : "s"}…`);
  const outcomes = new Map();
  let enrolledName = name;
  let failure = null;
  try {
    for (const group of requestGroups()) {
      const body = new FormData();
      body.append("name", name);
      if (group.face) body.append("face", group.face);
      for (const item of group.items) body.append("images", item.file, item.file.name);
      try {
        const result = await api("/people", { method: "POST", body });
        enrolledName = result.name || enrolledName;
        (result.photos || []).forEach((outcome, index) => group.items[index] && outcomes.set(group.items[index], outcome));
      } catch (error) {
        if (!(error instanceof ApiError) || !Array.isArray(error.body?.photos)) throw error;
        error.body.photos.forEach((outcome, index) => group.items[index] && outcomes.set(group.items[index], outcome));
      }
    }
  } catch (error) {
    failure = error;
  }
  showOutcomes(outcomes);
  const accepted = [...outcomes.values()].filter((outcome) => outcome.accepted).length;
  const total = outcomes.size;
  const rejected = total - accepted;
  if (failure && !accepted) {
    setStatus(status, "error", failure instanceof ApiError ? failure.message : "Enrollment failed. Try again.");
  } else if (!accepted) {
    const reasons = [...outcomes.values()].map((outcome) => readableReason(outcome.reason));
    setStatus(status, "error", `Nothing was enrolled: no photo was accepted. ${[...new Set(reasons)].join(" ")}`);
  } else {
    setStatus(status, failure ? "error" : "success",
      `Enrolled ${enrolledName} from ${accepted} of ${total} photo${total === 1 ? "" : "s"}`
        + `${rejected ? ` (see why ${rejected === 1 ? "one was" : `${rejected} were`} rejected above)` : ""}. `,
      failure ? `${failure instanceof ApiError ? failure.message : "The rest could not be sent."} ` : "",
      h("a", { href: form.dataset.peopleUrl, text: "See everyone on the People page" }), ".");
  }
  setBusy(false);
}

function startAgain() {
  for (const item of items) URL.revokeObjectURL(item.url);
  items = [];
  list.replaceChildren();
  nameInput.value = "";
  nameInput.removeAttribute("aria-invalid");
  setStatus(status, "info");
  nameInput.focus();
}

if (!canEdit()) {
  document.getElementById("enroll-forbidden").hidden = false;
  for (const control of form.querySelectorAll("input, button")) control.disabled = true;
} else {
  dropzone(fileInput, addFiles);
  form.addEventListener("submit", enroll);
  reset.addEventListener("click", startAgain);
}
