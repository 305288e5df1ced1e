// Recognise page, video clips: upload a short clip and see who appears when — one row per face followed through the
// clip, with its best face, its name (or unknown) and when it is on screen; a row plays the clip from there.

import { ApiError, api, imageForm } from "./api.js";
import { h, setStatus } from "./dom.js";
import { dropzone } from "./dropzone.js";
import { similarityScore } from "./faces.js";

const isVideo = (file) => file.type.startsWith("video/") || /\.(mp4|m4v|mov|mkv|webm|avi|ts)$/i.test(file.name);

const input = document.getElementById("recognize-video");
const status = document.getElementById("video-status");
const player = document.getElementById("video-player");
const timeline = document.getElementById("video-timeline");
const tracks = document.getElementById("video-tracks");
const durationLabel = document.getElementById("video-duration");
let clipUrl = null;
let current = 0;

const seconds = (value) => `${value.toFixed(1)} s`;

/** No clip and no results: what a failed or refused upload leaves, so that nothing old stands under its error. */
function clearClip() {
  player.hidden = true;
  player.removeAttribute("src");
  timeline.hidden = true;
  tracks.replaceChildren();
}

async function analyse(file) {
  const id = ++current;
  clearClip();
  if (clipUrl) URL.revokeObjectURL(clipUrl);
  clipUrl = URL.createObjectURL(file);
  player.src = clipUrl;
  player.hidden = false;
  setStatus(status, "busy", `Following the faces in ${file.name}… This takes about as long as the clip lasts.`);
  timeline.setAttribute("aria-busy", "true");
  try {
    const result = await api("/video", { method: "POST", body: imageForm(file, file.name, {}, "video") });
    if (id !== current) return;
    show(result, file.name);
  } catch (error) {
    if (id !== current) return;
    clearClip();
    setStatus(status, "error", error instanceof ApiError ? error.message : "The clip could not be analysed. Try again.");
  } finally {
    timeline.removeAttribute("aria-busy");
  }
}

function show(result, name) {
  const length = Math.max(result.duration || 0, ...result.tracks.map((t) => t.end), 0.1);
  durationLabel.textContent = seconds(length);
  tracks.replaceChildren(...result.tracks.map((track) => trackItem(track, length)));
  timeline.hidden = result.tracks.length === 0;
  const named = [...new Set(result.tracks.filter((t) => t.identity).map((t) => t.identity))];
  const unknown = result.tracks.filter((t) => !t.identity).length;
  if (!result.tracks.length) {
    setStatus(status, "info", `No face found in ${name} (${seconds(length)}). Try a clip where faces are larger or `
      + "sharper.");
    return;
  }
  const parts = [...named];
  if (unknown) parts.push(`${unknown} unknown`);
  const summary = `${result.tracks.length} face${result.tracks.length === 1 ? "" : "s"} followed in ${seconds(length)}`
    + ` of video: ${parts.join(", ")}.`;
  const notes = (result.warnings || []).map((w) => ` Note: ${w}.`);
  const empty = result.threshold === null ? " Nobody is enrolled yet, so every face is unknown." : "";
  setStatus(status, notes.length ? "info" : "success", summary + empty + notes.join(""));
}

/** One face followed through the clip: best face, who, similarity, and a bar on the clip's time line. */
function trackItem(track, length) {
  const who = track.identity || "Unknown person";
  const score = track.similarity === null ? "" : `similarity ${similarityScore(track.similarity)}`;
  const span = `${seconds(track.start)} to ${seconds(track.end)}`;
  const bar = h("span", { class: "track-bar" });
  bar.style.left = `${(100 * track.start) / length}%`;
  bar.style.width = `${Math.max(1.5, (100 * (track.end - track.start)) / length)}%`;
  const play = h("button", {
    type: "button", class: "track-play", "aria-label": `Play ${who} from ${seconds(track.start)}`,
  }, h("span", { class: "track-lane", "aria-hidden": "true" }, bar), h("span", { class: "track-span", text: span }));
  play.addEventListener("click", () => {
    player.currentTime = track.start;
    player.play().catch(() => {});
  });
  return h("li", { class: `track ${track.identity ? "known" : "unknown"}` },
    track.thumbnail ? h("img", { class: "track-face", src: track.thumbnail, alt: `Best face of ${who}` }) : null,
    h("span", { class: "track-who" }, h("strong", { text: who }), score ? h("span", { text: ` ${score}` }) : null),
    play);
}

player.addEventListener("error", () => { player.hidden = true; }); // a format this browser cannot play: results stay

dropzone(input, (files, refused) => {
  if (refused.length) {
    current += 1;
    clearClip();
    setStatus(status, "error", `${refused.join(", ")}: not a video. Choose an MP4, WebM, MOV or MKV clip.`);
  } else analyse(files[0]);
}, isVideo);
