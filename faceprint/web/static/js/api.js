// Calls to the faceprint JSON API from the same origin: session cookie plus the page's CSRF token.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.getAttribute("content") || "";

/** An answer from the API that is not a success, with the message the server gave. */
export class ApiError extends Error {
  constructor(message, status, code, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

const STATUS_MESSAGES = {
  401: "You are not signed in, or your session has ended. Sign in again and retry.",
  403: "Your key may not do this.",
  413: "That upload is too large for this server.",
  429: "Too many requests just now. Wait a moment and try again.",
  502: "The faceprint server is not answering. Try again in a moment.",
  503: "The faceprint server is not ready. Try again in a moment.",
};

/**
 * Call `/api/v1` + `path`. `body` may be FormData; `json` is sent as JSON.
 * Resolves with the parsed JSON answer; rejects with an ApiError carrying a message a person can act on.
 */
export async function api(path, { method = "GET", body, json, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = meta("csrf-token");
  let payload = body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(meta("api-root") + path, {
      method, body: payload, headers, credentials: "same-origin", signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError("The faceprint server cannot be reached. Check your connection and try again.", 0,
      "network_error", null);
  }
  let data = null;
  if ((response.headers.get("Content-Type") || "").includes("json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = data && data.error ? data.error : {};
    const message = error.message || STATUS_MESSAGES[response.status]
      || `The server answered with an error (${response.status}). Try again.`;
    throw new ApiError(message, response.status, error.code || "http_error", data);
  }
  return data;
}

/** Path segment for a person's name. */
export const personPath = (name) => `/people/${encodeURIComponent(name)}`;

/** A FormData with one image under `field`, plus any extra fields. */
export function imageForm(blob, filename = "photo.jpg", fields = {}, field = "image") {
  const form = new FormData();
  form.append(field, blob, filename);
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && value !== null && value !== "") form.append(key, String(value));
  }
  return form;
}
