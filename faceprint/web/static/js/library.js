// Library page: start an index run of a folder on the server, follow its progress (also after a reload), and list
// what is indexed: counts, folders and the people found, each with a face and a link to their photos.

import { ApiError, api } from "./api.js";
import { canEdit, h, setStatus } from "./dom.js";

const status = document.getElementById("library-status");
const panel = document.getElementById("index-panel");
const form = document.getElementById("index-form");
const field = document.getElementById("index-path");
const hint = document.getElementById("index-hint");
const startButton = document.getElementById("index-start");
const progress = document.getElementById("index-progress");
const bar = document.getElementById("index-bar");
const progressText = document.getElementById("index-text");
const POLL_MS = 1000;
let polling = null;

const plural = (n, word) => `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;
const errorText = (error, fallback) => (error instanceof ApiError ? error.message : fallback);

function duration(seconds) {
  if (seconds == null) return "";
  if (seconds < 60) return "less than a minute left";
  const minutes = Math.round(seconds / 60);
  return minutes < 60 ? `about ${plural(minutes, "minute")} left` : `about ${plural(Math.round(minutes / 60), "hour")} left`;
}

/** One sentence for an index run's state. */
function jobText(job) {
  const where = job.paths.join(", ");
  if (job.state === "running") {
    if (!job.total) return `Looking for photos in ${where}…`;
    const left = duration(job.eta_s);
    return `Indexing ${where}: ${job.done.toLocaleString()} of ${plural(job.total, "photo")}${left ? `, ${left}` : ""}…`;
  }
  if (job.state === "clustering") return `Grouping the unknown faces found in ${where}…`;
  if (job.state === "failed") return `Indexing ${where} failed: ${job.error}`;
  const s = job.summary;
  const parts = [`${plural(s.photos_added, "photo")} added`, `${s.photos_unchanged.toLocaleString()} unchanged`];
  if (s.photos_moved) parts.push(`${s.photos_moved.toLocaleString()} moved`);
  if (s.photos_removed) parts.push(`${s.photos_removed.toLocaleString()} removed`);
  let text = `Indexed ${where}: ${parts.join(", ")}; ${plural(s.faces, "face")} found, ${s.named.toLocaleString()} named.`;
  if (s.error_count) text += ` ${plural(s.error_count, "file")} could not be read (first: ${s.errors[0].path}: ${s.errors[0].reason}).`;
  return text;
}

function showJob(job) {
  progress.hidden = !job;
  if (!job) return;
  const active = job.state === "running" || job.state === "clustering";
  if (active && job.total) {
    bar.max = job.total;
    bar.value = job.done;
  } else if (active) bar.removeAttribute("value");
  else {
    bar.max = 1;
    bar.value = 1;
  }
  progress.dataset.state = job.state;
  progressText.textContent = jobText(job);
  startButton.disabled = active;
}

async function poll() {
  try {
    const { job } = await api("/library/index");
    showJob(job);
    if (job && (job.state === "running" || job.state === "clustering")) {
      polling = setTimeout(poll, POLL_MS);
      return;
    }
    polling = null;
    await load();
  } catch (error) {
    polling = setTimeout(poll, POLL_MS * 3);
    setStatus(status, "error", errorText(error, "The index run's progress could not be read; retrying."));
  }
}

function follow() {
  if (polling === null) polling = setTimeout(poll, POLL_MS);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const path = field.value.trim();
  if (!path) {
    field.setAttribute("aria-invalid", "true");
    setStatus(status, "error", "Enter the folder to index: its full path on the server.");
    field.focus();
    return;
  }
  field.removeAttribute("aria-invalid");
  startButton.disabled = true;
  try {
    const job = await api("/library/index", { method: "POST", json: { path } });
    setStatus(status, "info", "");
    showJob(job);
    progressText.focus?.();
    follow();
  } catch (error) {
    startButton.disabled = false;
    field.setAttribute("aria-invalid", "true");
    setStatus(status, "error", errorText(error, "The index run could not be started. Try again."));
    field.focus();
  }
});

function personCard(person) {
  const link = h("a", { class: "library-person-link", href: `/library/people/${encodeURIComponent(person.name)}`,
    "aria-label": `Photos of ${person.name}` },
  h("img", { class: "avatar", src: person.thumbnail_url, alt: "", width: 64, height: 64 }),
  h("span", { class: "library-person-name", text: person.name }),
  h("span", { class: "muted", text: `${plural(person.photos, "photo")}` }));
  return h("li", { class: "library-person", "data-name": person.name }, link);
}

async function load() {
  try {
    const data = await api("/library");
    document.getElementById("library-counts").textContent = data.photos || data.errors
      ? `${plural(data.photos, "photo")} with ${plural(data.faces, "face")}: ${data.named.toLocaleString()} named, `
        + `${plural(data.clusters, "group")} of unknown faces to name`
        + (data.errors ? `; ${plural(data.errors, "file")} could not be read.` : ".")
      : "Nothing is indexed yet.";
    document.getElementById("library-folders").replaceChildren(...data.folders.map((f) => h("li", {},
      h("span", { class: "folder-path", text: f.folder }), " ", h("span", { class: "muted", text: plural(f.photos, "file") }))));
    const people = document.getElementById("library-people");
    people.replaceChildren(...data.people.map(personCard));
    document.getElementById("library-people-empty").hidden = data.people.length > 0;
    panel.hidden = !canEdit();
    if (data.index.allowed) {
      hint.textContent = data.index.roots.length
        ? `A folder under ${data.index.roots.join(" or ")}.` : "The full path of a folder this server can read.";
      field.disabled = false;
    } else {
      hint.textContent = data.index.reason;
      field.disabled = true;
      startButton.disabled = true;
    }
    showJob(data.job);
    if (data.job && (data.job.state === "running" || data.job.state === "clustering")) follow();
    if (status.dataset.kind === "busy") setStatus(status, "info", "");
  } catch (error) {
    setStatus(status, "error", `${errorText(error, "The library could not be loaded.")} `,
      h("button", { type: "button", class: "button button-small", text: "Retry", onclick: () => load() }));
  }
}

setStatus(status, "busy", "Loading the library…");
load();
