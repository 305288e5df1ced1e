// Recognise page: every face in an uploaded photo, and live recognition of the browser's webcam.

import { ApiError, api, imageForm } from "./api.js";
import { h, setStatus } from "./dom.js";
import { dropzone, refusedMessage } from "./dropzone.js";
import { captureFrame, sleep, startCamera, stopCamera } from "./camera.js";
import { clearFaces, drawFaces } from "./overlay.js";
import { galleryIsEmpty, recognitionLabel, recognitionSentence } from "./faces.js";
import { LiveTracks } from "./tracks.js";

const FRAME_INTERVAL_MS = 400; // at most ~2.5 frames a second, one request in flight
const ERROR_BACKOFF_MS = 2000;

const enrollHint = () => h("a", { href: document.querySelector('.nav-links a[href$="enroll"]')?.getAttribute("href"),
  text: "Enroll someone" });

function thresholdValue() {
  const input = document.getElementById("recognize-threshold");
  const value = input.value.trim();
  if (!value) return { value: undefined };
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0 || number > 100) {
    input.setAttribute("aria-invalid", "true");
    return { error: "The threshold must be a number from 0 to 100, or empty for the default." };
  }
  input.removeAttribute("aria-invalid");
  return { value: number };
}

// -- a photo -----------------------------------------------------------------------------------------------
const photoInput = document.getElementById("recognize-photo");
const photoStatus = document.getElementById("photo-status");
const photoStage = document.getElementById("photo-stage");
const photoImage = document.getElementById("photo-image");
const photoOverlay = photoStage.querySelector(".overlay");
const photoFaces = document.getElementById("photo-faces");
let photoUrl = null;
let lastPhoto = null;

/** No photo and no results: what a failed or refused upload leaves, so that nothing old stands under its error. */
function clearPhoto() {
  photoStage.hidden = true;
  photoImage.removeAttribute("src");
  clearFaces(photoOverlay);
  photoFaces.replaceChildren();
}

async function recognizePhoto(file) {
  lastPhoto = file;
  const threshold = thresholdValue();
  if (threshold.error) {
    clearPhoto();
    setStatus(photoStatus, "error", threshold.error);
    return;
  }
  if (photoUrl) URL.revokeObjectURL(photoUrl);
  photoUrl = URL.createObjectURL(file);
  photoImage.src = photoUrl;
  photoImage.alt = `${file.name}, with a box on every face found`;
  photoStage.hidden = false;
  clearFaces(photoOverlay);
  photoFaces.replaceChildren();
  setStatus(photoStatus, "busy", `Recognising the faces in ${file.name}…`);
  photoStage.setAttribute("aria-busy", "true");
  try {
    const result = await api("/recognize", {
      method: "POST", body: imageForm(file, file.name, { threshold: threshold.value }),
    });
    const faces = result.faces || [];
    drawFaces(photoOverlay, faces, result.width, result.height, recognitionLabel, { numbered: true });
    photoFaces.replaceChildren(...faces.map((face, index) => faceItem(face, index, file)));
    if (!faces.length) {
      setStatus(photoStatus, "info", "No face found in this photo. Try a sharper or larger photo of the faces.");
    } else {
      const known = faces.filter((face) => face.identity).length;
      const summary = `${faces.length} face${faces.length === 1 ? "" : "s"} found, ${known} recognised.`;
      if (galleryIsEmpty(faces)) {
        setStatus(photoStatus, "info", `${summary} Nobody is enrolled yet, so every face is unknown. `,
          enrollHint(), " first.");
      } else {
        setStatus(photoStatus, "success", summary);
      }
    }
  } catch (error) {
    clearPhoto();
    setStatus(photoStatus, "error", error instanceof ApiError ? error.message : "Recognition failed. Try again.");
  } finally {
    photoStage.removeAttribute("aria-busy");
  }
}

/** One face in the list; an unknown face close to someone gets a button to confirm who it is, which adds the face
 * to that person (after the enrollment quality gate) so that they are recognised better next time. */
function faceItem(face, index, file) {
  const item = h("li", { class: face.identity ? "known" : "unknown" }, h("span", {
    text: recognitionSentence(face, index) }));
  const name = face.closest;
  if (!name) return item;
  const note = h("span", { class: "confirm-status", role: "status" });
  const button = h("button", { type: "button", class: "button button-small", text: `Yes, this is ${name}` });
  button.addEventListener("click", async () => {
    button.disabled = true;
    note.textContent = ` Adding this face to ${name}…`;
    try {
      const result = await api(`/people/${encodeURIComponent(name)}/photos`, {
        method: "POST", body: imageForm(file, file.name, { face: face.box.join(",") }, "images"),
      });
      const photo = result.photos?.[0];
      note.textContent = photo?.created === false ? ` This photo was already one of ${name}'s.`
        : ` Added to ${name}: recognition will use this face from now on.`;
    } catch (error) {
      button.disabled = false;
      note.textContent = ` ${error instanceof ApiError ? error.message : "Could not add the face. Try again."}`;
    }
  });
  item.append(" ", button, note);
  return item;
}

dropzone(photoInput, (files, refused) => {
  if (refused.length) {
    lastPhoto = null;
    clearPhoto();
    setStatus(photoStatus, "error", refusedMessage(refused));
  } else recognizePhoto(files[0]);
});
document.getElementById("recognize-threshold").addEventListener("change", () => {
  if (lastPhoto) recognizePhoto(lastPhoto);
});

// -- the webcam --------------------------------------------------------------------------------------------
const toggle = document.getElementById("camera-toggle");
const cameraStatus = document.getElementById("camera-status");
const cameraStage = document.getElementById("camera-stage");
const video = document.getElementById("camera-video");
const cameraOverlay = cameraStage.querySelector(".overlay");
const inView = document.getElementById("camera-people");
let running = false;
let session = 0;
const liveTracks = new LiveTracks(); // names decided by a vote over each face's recent frames, not one frame

function announce(faces) {
  const names = faces.map((face) => face.identity || "unknown");
  const text = names.length ? `In view: ${names.join(", ")}.` : "No face in view.";
  if (inView.textContent !== text) inView.textContent = text;
}

async function liveLoop(id) {
  let nextSend = 0; // frames leave at least FRAME_INTERVAL_MS apart, and only after the previous answer
  while (running && id === session) {
    await sleep(Math.max(0, nextSend - performance.now()));
    if (!running || id !== session) break;
    try {
      const frame = await captureFrame(video);
      const threshold = thresholdValue();
      const sent = performance.now();
      nextSend = sent + FRAME_INTERVAL_MS;
      const result = await api("/recognize", {
        method: "POST", body: imageForm(frame, "frame.jpg", { threshold: threshold.value }),
      });
      if (!running || id !== session) break;
      const faces = liveTracks.update(result.faces || []);
      drawFaces(cameraOverlay, faces, result.width, result.height, recognitionLabel);
      announce(faces);
      const perSecond = 1000 / Math.max(performance.now() - sent, FRAME_INTERVAL_MS);
      setStatus(cameraStatus, "success", galleryIsEmpty(faces)
        ? "Camera on. Nobody is enrolled yet, so every face is unknown."
        : `Camera on: recognising about ${perSecond.toFixed(1)} frames a second.`);
    } catch (error) {
      if (!running || id !== session) break;
      const message = error instanceof ApiError ? error.message : error.message || "Recognition failed.";
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        stop(message);
        break;
      }
      setStatus(cameraStatus, "error", `${message} Retrying…`);
      nextSend = performance.now() + ERROR_BACKOFF_MS;
    }
  }
}

async function start() {
  running = true;
  session += 1;
  liveTracks.reset();
  const id = session;
  toggle.disabled = true;
  setStatus(cameraStatus, "busy", "Starting the camera… Your browser may ask for permission.");
  try {
    await startCamera(video);
  } catch (error) {
    running = false;
    toggle.disabled = false;
    setStatus(cameraStatus, "error", error.message);
    return;
  }
  if (id !== session) return;
  cameraStage.hidden = false;
  toggle.disabled = false;
  toggle.textContent = "Stop camera";
  setStatus(cameraStatus, "busy", "Camera on: looking for faces…");
  liveLoop(id);
}

function stop(message = "Camera off.") {
  running = false;
  session += 1;
  stopCamera(video);
  clearFaces(cameraOverlay);
  cameraStage.hidden = true;
  inView.textContent = "";
  toggle.textContent = "Start camera";
  setStatus(cameraStatus, message === "Camera off." ? "info" : "error", message);
}

toggle.addEventListener("click", () => (running ? stop() : start()));
window.addEventListener("pagehide", () => running && stop());
