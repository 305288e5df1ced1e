// Celebrity look-alike page: a photo or a webcam snapshot; per face the three closest celebrities with confidence bars.

import { ApiError, api, imageForm } from "./api.js";
import { h, percent, setStatus } from "./dom.js";
import { dropzone, refusedMessage } from "./dropzone.js";
import { captureFrame, startCamera, stopCamera } from "./camera.js";
import { clearFaces, drawFaces } from "./overlay.js";

const TOP = 3;

const input = document.getElementById("celebrity-photo");
const status = document.getElementById("celebrity-status");
const cameraButton = document.getElementById("celebrity-camera");
const snapshotButton = document.getElementById("celebrity-snapshot");
const cameraStage = document.getElementById("celebrity-camera-stage");
const video = document.getElementById("celebrity-video");
const results = document.getElementById("celebrity-results");
const image = document.getElementById("celebrity-image");
const overlay = document.getElementById("celebrity-stage").querySelector(".overlay");
const list = document.getElementById("celebrity-faces");
const notice = document.getElementById("celebrity-notice");
let imageUrl = null;
let cameraOn = false;

function bar(probability) {
  const fill = h("span", { class: "bar-fill" });
  fill.style.width = `${Math.max(0, Math.min(1, probability)) * 100}%`;
  return h("span", { class: "bar", "aria-hidden": "true" }, fill);
}

function faceCard(face, index) {
  const rows = (face.top || []).slice(0, TOP).map((entry, rank) => h("li", { class: rank === 0 ? "best" : "" },
    h("span", { class: "match-name", text: entry.name }),
    bar(entry.probability),
    h("span", { class: "match-value", text: percent(entry.probability) })));
  return h("li", { class: "celebrity-face" },
    h("h3", { text: `Face ${index + 1}: looks most like ${face.name}` }),
    h("ol", { class: "matches", "aria-label": `Closest celebrities for face ${index + 1}` }, rows));
}

/** No picture and no look-alikes: what a failed or refused upload leaves, so that nothing old stands under its
 * error. */
function clearResults() {
  results.hidden = true;
  image.removeAttribute("src");
  clearFaces(overlay);
  list.replaceChildren();
  notice.textContent = "";
}

async function match(blob, filename, description) {
  if (imageUrl) URL.revokeObjectURL(imageUrl);
  imageUrl = URL.createObjectURL(blob);
  setStatus(status, "busy", `Looking for look-alikes in ${description}…`);
  try {
    const result = await api("/celebrity", { method: "POST", body: imageForm(blob, filename, { top: TOP }) });
    const faces = result.faces || [];
    image.src = imageUrl;
    image.alt = `${description}, with a numbered box on every face`;
    list.replaceChildren(...faces.map(faceCard));
    notice.textContent = result.notice || "";
    results.hidden = false; // shown before the boxes are drawn, so that their labels can be measured
    drawFaces(overlay, faces, result.width, result.height, (face) => ({ label: face.name, kind: "neutral" }),
      { numbered: true });
    if (faces.length) {
      setStatus(status, "success", `${faces.length} face${faces.length === 1 ? "" : "s"} matched.`);
    } else {
      list.replaceChildren(h("li", { class: "empty", text: "No face found in this picture." }));
      setStatus(status, "info", "No face found. Try a sharper photo with the face looking at the camera.");
    }
  } catch (error) {
    clearResults();
    setStatus(status, "error", error instanceof ApiError ? error.message : "The look-alike match failed. Try again.");
  }
}

dropzone(input, (files, refused) => {
  if (refused.length) {
    clearResults();
    setStatus(status, "error", refusedMessage(refused));
  } else match(files[0], files[0].name, files[0].name);
});

function closeCamera() {
  cameraOn = false;
  stopCamera(video);
  cameraStage.hidden = true;
  snapshotButton.hidden = true;
  cameraButton.textContent = "Start camera";
}

cameraButton.addEventListener("click", async () => {
  if (cameraOn) {
    closeCamera();
    setStatus(status, "info", "Camera off.");
    return;
  }
  cameraButton.disabled = true;
  setStatus(status, "busy", "Starting the camera… Your browser may ask for permission.");
  try {
    await startCamera(video);
    cameraOn = true;
    cameraStage.hidden = false;
    snapshotButton.hidden = false;
    cameraButton.textContent = "Stop camera";
    setStatus(status, "info", "Camera on. Press Take snapshot when you are ready.");
    snapshotButton.focus();
  } catch (error) {
    setStatus(status, "error", error.message);
  } finally {
    cameraButton.disabled = false;
  }
});

snapshotButton.addEventListener("click", async () => {
  if (!cameraOn) return;
  snapshotButton.disabled = true;
  try {
    await match(await captureFrame(video, 960, 0.92), "snapshot.jpg", "your snapshot");
  } catch (error) {
    setStatus(status, "error", error.message);
  } finally {
    snapshotButton.disabled = false;
  }
});

window.addEventListener("pagehide", () => cameraOn && closeCamera());
