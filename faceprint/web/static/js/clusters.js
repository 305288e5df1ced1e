// Clusters page: groups of unknown faces. Name a group (enrolls the person), tick groups and merge them, select
// faces (buttons with aria-pressed: click, Enter or Space) to split them into a new group or remove them, ignore a
// group. Every action reloads the list and says what happened.

import { ApiError, api } from "./api.js";
import { canEdit, h, setStatus } from "./dom.js";

const list = document.getElementById("clusters");
const empty = document.getElementById("clusters-empty");
const status = document.getElementById("clusters-status");
const showIgnored = document.getElementById("show-ignored");
const mergeButton = document.getElementById("merge-selected");
const names = document.getElementById("people-names");
const editable = canEdit();
const FACES_SHOWN = 60;

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const errorText = (error, fallback) => (error instanceof ApiError ? error.message : fallback);
const baseName = (path) => path.split(/[\\/]/).pop();

function ticked() {
  return [...list.querySelectorAll(".cluster-merge:checked")].map((box) => Number(box.value));
}

function updateMerge() {
  mergeButton.disabled = !editable || ticked().length < 2;
}

function feedback(card, kind, message) {
  setStatus(card.querySelector(".cluster-feedback"), kind, message);
}

async function act(card, call, success, focusSelector) {
  try {
    const result = await call();
    await load({ message: success(result), focus: focusSelector });
  } catch (error) {
    feedback(card, "error", errorText(error, "That did not work. Try again."));
  }
}

function selectedFaces(card) {
  return [...card.querySelectorAll(".cluster-face[aria-pressed='true']")].map((b) => Number(b.dataset.face));
}

function updateSelection(card) {
  const count = selectedFaces(card).length;
  for (const button of card.querySelectorAll(".needs-selection")) button.disabled = count === 0;
  card.querySelector(".cluster-selection").textContent = count ? `${plural(count, "face")} selected` : "";
}

function clusterCard(cluster) {
  const label = `group ${cluster.id}`;
  const card = h("li", { class: "cluster", "data-cluster": cluster.id, "aria-labelledby": `cluster-${cluster.id}-title` });
  const faces = cluster.faces.map((face, i) => {
    const button = h("button", {
      type: "button", class: "cluster-face", "aria-pressed": "false", "data-face": face.face_id,
      "aria-label": `Face ${i + 1} of ${label}, in ${baseName(face.photo)}`, title: face.photo, disabled: !editable,
    }, h("img", { src: face.thumbnail_url, alt: "", width: 64, height: 64, loading: "lazy" }));
    button.addEventListener("click", () => {
      button.setAttribute("aria-pressed", button.getAttribute("aria-pressed") === "true" ? "false" : "true");
      updateSelection(card);
    });
    return h("li", {}, button);
  });
  const more = cluster.size > cluster.faces.length ? h("p", { class: "muted", text: `and ${cluster.size - cluster.faces.length} more` }) : null;
  const heading = h("div", { class: "cluster-heading" },
    h("h2", { id: `cluster-${cluster.id}-title`, tabindex: "-1", text: `Group ${cluster.id}` }),
    h("span", { class: "muted", text: plural(cluster.size, "face") + (cluster.ignored ? " · ignored" : "") }));
  card.append(heading, h("ul", { class: "cluster-faces", "aria-label": `Faces of ${label}` }, faces));
  if (more) card.append(more);
  if (editable) {
    const nameId = `name-${cluster.id}`;
    const field = h("input", { id: nameId, type: "text", list: "people-names", autocomplete: "off", maxlength: 100,
      required: true });
    const nameForm = h("form", { class: "cluster-name", novalidate: true },
      h("label", { class: "label", for: nameId, text: `Who is in ${label}?` }),
      h("div", { class: "cluster-name-row" }, field,
        h("button", { type: "submit", class: "button button-primary button-small", text: "Name" })));
    nameForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = field.value.trim();
      if (!name) {
        field.setAttribute("aria-invalid", "true");
        feedback(card, "error", "Enter the person's name.");
        field.focus();
        return;
      }
      act(card, () => api(`/library/clusters/${cluster.id}/name`, { method: "POST", json: { name } }),
        (r) => `Named ${plural(r.faces, "face")} of ${label} as ${r.name}.`);
    });
    const split = h("button", { type: "button", class: "button button-small needs-selection", text: "Split off",
      disabled: true, "aria-label": `Move the selected faces of ${label} to a new group` });
    split.addEventListener("click", () => act(card,
      () => api(`/library/clusters/${cluster.id}/split`, { method: "POST", json: { faces: selectedFaces(card) } }),
      (r) => `Moved ${plural(r.faces.length, "face")} of ${label} to group ${r.new_cluster}.`, `[data-cluster="${cluster.id}"] h2`));
    const remove = h("button", { type: "button", class: "button button-small button-danger-quiet needs-selection",
      text: "Remove", disabled: true, "aria-label": `Remove the selected faces from ${label}` });
    remove.addEventListener("click", () => act(card,
      () => api(`/library/clusters/${cluster.id}/remove`, { method: "POST", json: { faces: selectedFaces(card) } }),
      (r) => `Removed ${plural(r.removed.length, "face")} from ${label}.`, `[data-cluster="${cluster.id}"] h2`));
    const ignore = h("button", { type: "button", class: "button button-small button-quiet",
      text: cluster.ignored ? "Show again" : "Ignore", "aria-label": `${cluster.ignored ? "Show again" : "Ignore"} ${label}` });
    ignore.addEventListener("click", () => act(card,
      () => api(`/library/clusters/${cluster.id}/ignore`, { method: "POST", json: { ignored: !cluster.ignored } }),
      (r) => (r.ignored ? `Ignored ${label}.` : `${label[0].toUpperCase()}${label.slice(1)} is listed again.`)));
    const merge = h("label", { class: "check" },
      h("input", { type: "checkbox", class: "cluster-merge", value: cluster.id, onchange: updateMerge }),
      ` Tick ${label} to merge`);
    card.append(nameForm, h("div", { class: "actions cluster-actions" }, split, remove,
      h("span", { class: "cluster-selection muted", "aria-live": "polite" }), ignore, merge));
  }
  card.append(h("div", { class: "cluster-feedback status", role: "status", "aria-live": "polite", hidden: true }));
  return card;
}

mergeButton.addEventListener("click", async () => {
  const [target, ...sources] = ticked();
  if (!sources.length) return;
  try {
    await api(`/library/clusters/${target}/merge`, { method: "POST", json: { clusters: sources } });
    await load({ message: `Merged ${plural(sources.length, "group")} into group ${target}.`,
      focus: `[data-cluster="${target}"] h2` });
  } catch (error) {
    setStatus(status, "error", errorText(error, "Merging failed. Try again."));
  }
});

showIgnored.addEventListener("change", () => load());

async function loadNames() {
  try {
    const { people } = await api("/people");
    names.replaceChildren(...people.map((p) => h("option", { value: p.name })));
  } catch {
    names.replaceChildren();
  }
}

async function load(after = {}) {
  try {
    const query = `?faces=${FACES_SHOWN}${showIgnored.checked ? "&all=1" : ""}`;
    const { clusters } = await api(`/library/clusters${query}`);
    list.replaceChildren(...clusters.map(clusterCard));
    empty.hidden = clusters.length > 0;
    updateMerge();
    const summary = clusters.length ? `${plural(clusters.length, "group")} of unknown faces.` : "";
    setStatus(status, after.message ? "success" : "info", after.message || summary);
    if (after.focus) list.querySelector(after.focus)?.focus();
    if (editable) loadNames();
  } catch (error) {
    setStatus(status, "error", `${errorText(error, "The groups could not be loaded.")} `,
      h("button", { type: "button", class: "button button-small", text: "Retry", onclick: () => load() }));
  }
}

setStatus(status, "busy", "Loading the groups of unknown faces…");
load();
