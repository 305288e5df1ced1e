// Small DOM helpers: build elements without innerHTML, and show status messages.

/** Create an element: h("p", {class: "x", text: "hi"}, child, ...). Attributes with value false/null are skipped. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "text") element.textContent = value;
    else if (key === "class") element.className = value;
    else if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Show a message in a status region; kind is "info", "busy", "success" or "error". Children may be nodes. */
export function setStatus(region, kind, ...content) {
  const parts = content.flat().filter((c) => c !== "" && c !== null && c !== undefined);
  region.replaceChildren(...parts.map((c) => (c instanceof Node ? c : document.createTextNode(String(c)))));
  region.dataset.kind = kind;
  region.hidden = parts.length === 0;
}

/** Empty a status region. */
export const clearStatus = (region) => setStatus(region, "info");

/** "87%" from 0.8712. */
export const percent = (value) => `${Math.round(value * 100)}%`;

/** A readable date from an ISO timestamp. */
export function formatDate(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso || "";
  return date.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

/** Does this page allow changing the gallery (set by the server from the session's role)? */
export const canEdit = () => document.getElementById("main")?.dataset.canEdit !== "false";
