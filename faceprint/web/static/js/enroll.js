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

/** What the detector's answer means for enrollment. */
function judgeDetection(item, result) {
  const faces = result.faces || [];
  drawFaces(item.overlay, faces, result.width, result.height, (face, index) => ({
    label: faces.length > 1 ? `Face ${index + 1}` : "Face",
    kind: faces.length === 1 ? "known" : "unknown",
  }));
  if (faces.length === 0) {
    setItemStatus(item, "error", "No face found: this photo will be rejected.");
  } else if (faces.length > 1) {
    setItemStatus(item, "warning",
      `${faces.length} faces found: enrollment needs a photo that shows only this person.`);
  } else if (Math.min(faces[0].box[2], faces[0].box[3]) < MIN_FACE_PX) {
    setItemStatus(item, "warning", "One face found, but it is small: this photo may be rejected as too small.");
  } else {
    setItemStatus(item, "success", "One face found.");
  }
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

function showOutcomes(photos) {
  photos.forEach((outcome, index) => {
    const item = items[index];
    if (!item) return;
    item.result = outcome;
    item.card.querySelector(".preview-result")?.remove();
    const text = outcome.accepted
      ? (outcome.created === false ? "Accepted (this photo was already enrolled)." : "Accepted.")
      : `Rejected: ${outcome.reason || "no reason given"}`;
    item.card.dataset.state = outcome.accepted ? "accepted" : "rejected";
    item.statusLine.after(h("p", {
      class: `preview-result ${outcome.accepted ? "accepted" : "rejected"}`, text,
    }));
  });
}

function setBusy(value) {
  busy = value;
  submit.disabled = value;
  reset.disabled = value;
  fileInput.disabled = value;
  nameInput.readOnly = value;
  form.setAttribute("aria-busy", String(value));
  for (const item of items) item.remove.disabled = value;
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
  const body = new FormData();
  body.append("name", name);
  for (const item of items) body.append("images", item.file, item.file.name);
  setBusy(true);
  setStatus(status, "busy", `Enrolling ${name} from ${items.length} photo${items.length === 1 ? "" : "s"}…`);
  try {
    const result = await api("/people", { method: "POST", body });
    showOutcomes(result.photos || []);
    const total = result.photos?.length ?? items.length;
    const rejected = total - result.accepted;
    setStatus(status, "success",
      `Enrolled ${result.name} from ${result.accepted} of ${total} photo${total === 1 ? "" : "s"}`
        + `${rejected ? ` (see why ${rejected === 1 ? "one was" : `${rejected} were`} rejected above)` : ""}. `,
      h("a", { href: form.dataset.peopleUrl, text: "See everyone on the People page" }), ".");
  } catch (error) {
    if (error instanceof ApiError && Array.isArray(error.body?.photos)) showOutcomes(error.body.photos);
    const message = error instanceof ApiError ? error.message : "Enrollment failed. Try again.";
    setStatus(status, "error", error.code === "no_photo_accepted"
      ? `Nothing was enrolled: no photo was accepted. ${message}` : message);
  } finally {
    setBusy(false);
  }
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
