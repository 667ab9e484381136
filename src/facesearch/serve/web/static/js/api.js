// The API client: JSON in and out, the session cookie sent by the browser, the CSRF header on
// every state-changing request, errors as problem details (RFC 9457) turned into ApiError.

const BASE = "/api/v1";
const CSRF_HEADER = "X-CSRF-Token";
const CSRF_COOKIE = "facesearch_csrf";
let csrfToken = null;

export class ApiError extends Error {
  constructor(status, problem) {
    super(describe(status, problem));
    this.status = status;
    this.problem = problem || {};
  }
}

function describe(status, problem) {
  if (!problem) return `request failed (${status})`;
  const fields = (problem.errors || []).map((e) => `${(e.loc || []).filter((x) => x !== "body").join(".")}: ${e.msg}`);
  const main = problem.detail || problem.title || `request failed (${status})`;
  return fields.length ? `${main} (${fields.join("; ")})` : main;
}

export function setCsrfToken(token) {
  csrfToken = token || null;
}

function cookie(name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(`${name}=`));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : null;
}

/** The URL of an API path with optional query parameters (empty values left out). */
export function url(path, query) {
  const u = new URL(path.startsWith("/api/") ? path : BASE + path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
  }
  return u.pathname + u.search;
}

/**
 * Call the API. options: json (a body sent as JSON), form (a FormData), query, blob (answer a
 * Blob instead of JSON). Resolves to the parsed body (null for 204); rejects with ApiError.
 */
export async function api(method, path, options = {}) {
  const headers = { Accept: "application/json, application/problem+json" };
  const init = { method, headers, credentials: "same-origin" };
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.json);
  } else if (options.form) {
    init.body = options.form;
  }
  if (!["GET", "HEAD"].includes(method)) {
    const token = csrfToken || cookie(CSRF_COOKIE);
    if (token) headers[CSRF_HEADER] = token;
  }
  const response = await fetch(url(path, options.query), init);
  if (!response.ok) {
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      problem = null;
    }
    const error = new ApiError(response.status, problem);
    if (response.status === 401 && !path.endsWith("/auth/login")) {
      window.dispatchEvent(new CustomEvent("facesearch:unauthorized", { detail: error }));
    }
    throw error;
  }
  if (options.blob) return response.blob();
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

/** Every item of a paginated list (limit 200 per request), for the small lists of this app. */
export async function all(path, query = {}) {
  const items = [];
  for (let offset = 0; ; offset += 200) {
    const page = await api("GET", path, { query: { ...query, limit: 200, offset } });
    items.push(...page.items);
    if (items.length >= page.total || page.items.length === 0) return items;
  }
}
