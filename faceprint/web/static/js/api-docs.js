// Interactive API documentation: Swagger UI (served by this server) over the API's own OpenAPI document.
// "Try it out" sends real requests with this page's session: posts carry the CSRF token, keys go in "Authorize".

const root = document.getElementById("swagger-ui");
const status = document.getElementById("api-docs-status");
const token = document.querySelector('meta[name="csrf-token"]')?.content || "";

if (typeof window.SwaggerUIBundle !== "function") {
  status.hidden = false;
  status.textContent = "The interactive documentation could not start; the OpenAPI document above has everything.";
} else {
  window.SwaggerUIBundle({
    domNode: root,
    url: root.dataset.specUrl,
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    tryItOutEnabled: false,
    validatorUrl: null, // never ask another site to validate the document
    requestInterceptor: (request) => {
      const method = (request.method || "GET").toUpperCase();
      if (token && method !== "GET" && method !== "HEAD") request.headers["X-CSRFToken"] = token;
      return request;
    },
  });
}
