// A person's photos in the library: each indexed photo with the person's face boxed (boxes in percent of the photo,
// so they follow the picture at any width).

import { ApiError, api } from "./api.js";
import { h, setStatus } from "./dom.js";

const name = document.getElementById("main").dataset.person;
const list = document.getElementById("person-photos");
const status = document.getElementById("person-status");

const pct = (value, total) => `${((100 * value) / total).toFixed(3)}%`;
const baseName = (path) => path.split(/[\\/]/).pop();

function photoItem(photo, index, count) {
  const [x, y, w, hgt] = photo.box;
  const label = `${name} in ${baseName(photo.photo)}`;
  const box = h("span", { class: "library-box", "aria-hidden": "true" });
  Object.assign(box.style, {
    left: pct(x, photo.width), top: pct(y, photo.height), width: pct(w, photo.width), height: pct(hgt, photo.height),
  });
  const similarity = photo.similarity == null ? "named by you" : `similarity ${photo.similarity.toFixed(0)}`;
  return h("li", { class: "library-photo", "data-photo": photo.photo },
    h("figure", {},
      h("div", { class: "library-stage" },
        h("img", { src: photo.image_url, alt: `Photo ${index + 1} of ${count}: ${label}`, loading: "lazy",
          width: photo.width, height: photo.height }),
        box),
      h("figcaption", {}, h("span", { class: "folder-path", text: photo.photo }), " ",
        h("span", { class: "muted", text: photo.taken ? `${photo.taken.slice(0, 10)} · ${similarity}` : similarity }))));
}

async function load() {
  setStatus(status, "busy", `Loading the photos of ${name}…`);
  try {
    const { photos } = await api(`/library/people/${encodeURIComponent(name)}/photos`);
    list.replaceChildren(...photos.map((photo, i) => photoItem(photo, i, photos.length)));
    setStatus(status, "info", photos.length
      ? `${name} appears in ${photos.length} indexed photo${photos.length === 1 ? "" : "s"}.`
      : `No indexed photo of ${name} yet.`);
  } catch (error) {
    setStatus(status, "error", error instanceof ApiError ? error.message : "The photos could not be loaded.");
  }
}

load();
