// People page: the enrolled people with their thumbnails; rename, add photos, remove photos, delete (confirmed).

import { ApiError, api, personPath } from "./api.js";
import { canEdit, formatDate, h, setStatus } from "./dom.js";
import { refusedMessage } from "./dropzone.js";

const list = document.getElementById("people-list");
const empty = document.getElementById("people-empty");
const status = document.getElementById("people-status");
const dialog = document.getElementById("confirm-dialog");
const editable = canEdit();
let cardCount = 0;

const sentence = (text) => (/[.!?]$/.test(text) ? text : `${text}.`);
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
const errorText = (error, fallback) => (error instanceof ApiError ? error.message : fallback);

/** Ask for confirmation in the modal dialog; resolves true when the user confirms. */
function confirmAction(title, text, confirmLabel) {
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  const ok = document.getElementById("confirm-ok");
  const cancel = document.getElementById("confirm-cancel");
  ok.textContent = confirmLabel;
  return new Promise((resolve) => {
    const finish = (answer) => {
      ok.removeEventListener("click", onOk);
      cancel.removeEventListener("click", onCancel);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onOk = () => finish(true);
    const onCancel = (event) => {
      event?.preventDefault?.();
      finish(false);
    };
    ok.addEventListener("click", onOk);
    cancel.addEventListener("click", onCancel);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    cancel.focus();
  });
}

function avatar(person) {
  if (person.thumbnail_url) {
    return h("img", {
      class: "avatar", src: person.thumbnail_url, alt: `Face of ${person.name}`, width: 72, height: 72,
    });
  }
  const initials = person.name.split(/\s+/).map((part) => part[0] || "").join("").slice(0, 2).toUpperCase();
  return h("span", { class: "avatar avatar-initials", "aria-hidden": "true", text: initials || "?" });
}

function renameForm(person, card) {
  const id = `rename-${card.dataset.index}`;
  const field = h("input", {
    id, type: "text", value: person.name, required: true, maxlength: 200, autocomplete: "off",
  });
  const form = h("form", { class: "rename-form", novalidate: true },
    h("label", { class: "label", for: id, text: `New name for ${person.name}` }), field,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "button button-primary button-small", text: "Save" }),
      h("button", { type: "button", class: "button button-small", text: "Cancel", onclick: () => closeRename() })));
  const heading = card.querySelector(".person-name");
  const renameButton = card.querySelector(".rename-button");
  const closeRename = () => {
    form.remove();
    heading.hidden = false;
    renameButton.hidden = false;
    renameButton.focus();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = field.value.trim();
    if (!name || name.includes("/")) {
      field.setAttribute("aria-invalid", "true");
      feedback(card, "error", name ? "A name may not contain “/”." : "Enter the new name.");
      field.focus();
      return;
    }
    if (name === person.name) {
      closeRename();
      return;
    }
    try {
      await api(personPath(person.name), { method: "PATCH", json: { name } });
      const message = sentence(`Renamed ${person.name} to ${name}`);
      await load({ name, kind: "success", message, focus: ".rename-button" });
    } catch (error) {
      field.setAttribute("aria-invalid", "true");
      feedback(card, "error", errorText(error, "Renaming failed. Try again."));
      field.focus();
    }
  });
  return { form, field };
}

function feedback(card, kind, message) {
  setStatus(card.querySelector(".person-feedback"), kind, message);
}

async function addPhotos(person, card, files) {
  const images = files.filter((file) => file.type.startsWith("image/"));
  const refused = files.filter((file) => !file.type.startsWith("image/")).map((file) => file.name);
  if (refused.length) feedback(card, "error", refusedMessage(refused));
  if (!images.length) return;
  const body = new FormData();
  for (const file of images) body.append("images", file, file.name);
  feedback(card, "busy", `Adding ${plural(images.length, "photo")} to ${person.name}…`);
  try {
    const result = await api(`${personPath(person.name)}/photos`, { method: "POST", body });
    const reasons = (result.photos || []).filter((p) => !p.accepted).map((p) => p.reason);
    const message = sentence(`Added ${result.accepted} of ${plural(images.length, "photo")} to ${person.name}`)
      + (reasons.length ? ` Rejected: ${reasons.join("; ")}` : "");
    await load({ name: person.name, kind: reasons.length ? "warning" : "success", message });
  } catch (error) {
    feedback(card, "error", errorText(error, "Adding photos failed. Try again."));
  }
}

async function togglePhotos(person, card, button) {
  const panel = card.querySelector(".person-photos");
  if (!panel.hidden) {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    return;
  }
  button.setAttribute("aria-expanded", "true");
  panel.hidden = false;
  panel.replaceChildren(h("li", { class: "muted", text: "Loading photos…" }));
  try {
    const result = await api(`${personPath(person.name)}/photos`);
    const photos = result.photos || [];
    panel.replaceChildren(...photos.map((photo, index) => {
      const label = `photo ${index + 1} of ${person.name}`;
      const picture = photo.thumbnail_url
        ? h("img", { src: photo.thumbnail_url, alt: `Face in ${label}`, width: 72, height: 72 })
        : h("span", { class: "avatar avatar-initials", text: index + 1 });
      return h("li", { class: "photo" }, picture,
        h("span", { class: "photo-date", text: formatDate(photo.created) }),
        editable && h("button", {
          type: "button", class: "button button-small button-danger-quiet", text: "Remove",
          "aria-label": `Remove ${label}`, onclick: () => removePhoto(person, card, photo, label, photos.length),
        }));
    }));
  } catch (error) {
    panel.replaceChildren(h("li", { class: "error", text: errorText(error, "The photos could not be loaded.") }));
  }
}

async function removePhoto(person, card, photo, label, count) {
  const last = count === 1;
  const confirmed = await confirmAction(`Remove ${label}?`,
    last ? `This is ${person.name}'s only photo: removing it deletes ${person.name}.`
      : "Its embeddings and thumbnail are deleted; the other photos stay.", "Remove");
  if (!confirmed) return;
  try {
    const result = await api(`${personPath(person.name)}/photos/${encodeURIComponent(photo.photo_id)}`,
      { method: "DELETE" });
    if (result.person_deleted) {
      await load({ kind: "success", message: sentence(`Removed the last photo, so ${person.name} is deleted`) });
    } else await load({ name: person.name, kind: "success", message: sentence(`Removed ${label}`), openPhotos: true });
  } catch (error) {
    feedback(card, "error", errorText(error, "Removing the photo failed. Try again."));
  }
}

async function deletePerson(person, card) {
  const confirmed = await confirmAction(`Delete ${person.name}?`,
    `This removes ${person.name} and every photo, embedding and thumbnail stored for them. It cannot be undone.`,
    "Delete");
  if (!confirmed) {
    card.querySelector(".delete-button").focus();
    return;
  }
  try {
    await api(personPath(person.name), { method: "DELETE" });
    await load({ kind: "success", message: sentence(`Deleted ${person.name}`) });
    document.getElementById("main").focus();
  } catch (error) {
    feedback(card, "error", errorText(error, "Deleting failed. Try again."));
  }
}

/** How well a person's photos serve recognition ("strong", "fair", "weak") and what to add, from the API. */
function enrollmentNote(person) {
  const enrollment = person.enrollment;
  if (!enrollment) return null;
  const text = `Enrollment: ${enrollment.strength}` + (enrollment.hint ? ` — ${enrollment.hint}.` : ".");
  return h("p", { class: `person-enrollment enrollment-${enrollment.strength}`, text });
}

function personCard(person) {
  const index = ++cardCount;
  const card = h("li", { class: "person", "data-name": person.name, "data-index": index });
  const photosId = `photos-${index}`;
  const meta = `${plural(person.photos, "photo")} · enrolled ${formatDate(person.created)}`
    + (person.updated && formatDate(person.updated) !== formatDate(person.created)
      ? ` · updated ${formatDate(person.updated)}` : "");
  const photosButton = h("button", {
    type: "button", class: "button button-small", text: "Photos", "aria-expanded": "false",
    "aria-controls": photosId, "aria-label": `Show photos of ${person.name}`,
  });
  photosButton.addEventListener("click", () => togglePhotos(person, card, photosButton));
  const actions = h("div", { class: "person-actions" }, photosButton);
  if (editable) {
    const renameButton = h("button", {
      type: "button", class: "button button-small rename-button", text: "Rename", "aria-label": `Rename ${person.name}`,
    });
    renameButton.addEventListener("click", () => {
      const { form, field } = renameForm(person, card);
      card.querySelector(".person-name").hidden = true;
      renameButton.hidden = true;
      card.querySelector(".person-name").after(form);
      field.focus();
      field.select();
    });
    const fileInput = h("input", {
      type: "file", accept: "image/*", multiple: true, class: "visually-hidden",
      "aria-label": `Add photos of ${person.name}`,
    });
    fileInput.addEventListener("change", () => {
      const files = Array.from(fileInput.files || []);
      fileInput.value = "";
      addPhotos(person, card, files);
    });
    actions.prepend(renameButton);
    actions.append(
      h("label", { class: "button button-small file-button" }, h("span", { text: "Add photos" }), fileInput),
      h("button", {
        type: "button", class: "button button-small button-danger-quiet delete-button", text: "Delete",
        "aria-label": `Delete ${person.name}`, onclick: () => deletePerson(person, card),
      }));
  }
  card.append(
    avatar(person),
    h("div", { class: "person-main" },
      h("h2", { class: "person-name", tabindex: "-1", text: person.name }),
      h("p", { class: "person-meta", text: meta }),
      enrollmentNote(person),
      h("div", { class: "person-feedback status", role: "status", "aria-live": "polite", hidden: true })),
    actions,
    h("ul", { class: "person-photos", id: photosId, hidden: true, "aria-label": `Photos of ${person.name}` }));
  return card;
}

/** Fetch and show the people; `after` says which card gets a message and focus. */
async function load(after = {}) {
  try {
    const result = await api("/people");
    const people = result.people || [];
    list.replaceChildren(...people.map(personCard));
    empty.hidden = people.length > 0;
    list.hidden = people.length === 0;
    const card = after.name ? [...list.children].find((li) => li.dataset.name === after.name) : null;
    if (card && after.message) feedback(card, after.kind, after.message);
    else if (after.message) setStatus(status, after.kind, after.message);
    else setStatus(status, "info", people.length > 1 ? `${people.length} people enrolled.` : "");
    if (card) {
      card.querySelector(after.focus || ".person-name").focus();
      if (after.openPhotos) card.querySelector("[aria-controls]").click();
    }
  } catch (error) {
    setStatus(status, "error", `${errorText(error, "The list of people could not be loaded.")} `,
      h("button", { type: "button", class: "button button-small", text: "Retry", onclick: () => load() }));
  }
}

setStatus(status, "busy", "Loading the people…");
load();
