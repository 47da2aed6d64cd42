// The public HTTP API, and nothing else: every call the console makes goes through here.
//
// Identity: the local dev user travels as `X-User-Id`; an API key or a Firebase ID token as
// `Authorization: Bearer ...`. The credential is kept in sessionStorage (this tab only), never in a URL.

const STORE = "convoinsight.console";

export class ApiError extends Error {
  constructor(status, code, message, requestId) {
    super(message);
    this.status = status;
    this.code = code;
    this.requestId = requestId;
  }
}

export function loadCredentials() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE) || "null");
    return saved && saved.method ? saved : null;
  } catch {
    return null;
  }
}

export function saveCredentials(credentials) {
  sessionStorage.setItem(STORE, JSON.stringify(credentials));
}

export function clearCredentials() {
  sessionStorage.removeItem(STORE);
}

export class Api {
  constructor(credentials) {
    this.credentials = credentials;
    this.base = (credentials.base || "").replace(/\/+$/, "") + "/api/v1";
  }

  headers(extra = {}) {
    const headers = { ...extra };
    if (this.credentials.method === "dev") headers["X-User-Id"] = this.credentials.user;
    else headers.Authorization = `Bearer ${this.credentials.token}`;
    return headers;
  }

  // A URL the API returned is absolute on its PUBLIC_BASE_URL. When the console is served by the API's own origin
  // (no base set), this origin's own routes are reached through this origin, whatever name the page was opened
  // by (localhost or 127.0.0.1): the CSP allows connect-src 'self' only. Other hosts (a V4-signed GCS URL) stay.
  url(path) {
    if (!path.startsWith("http")) return this.base + path;
    const target = new URL(path);
    if (!this.credentials.base && /^\/(api\/v1|_storage)\//.test(target.pathname)) {
      return location.origin + target.pathname + target.search;
    }
    return path;
  }

  async request(method, path, { json, headers = {}, accept = "application/json" } = {}) {
    const init = { method, headers: this.headers({ Accept: accept, ...headers }) };
    if (json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    }
    let response;
    try {
      response = await fetch(this.url(path), init);
    } catch (error) {
      throw new ApiError(0, "network_error", `The API could not be reached (${error.message}).`, null);
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  async json(method, path, options) {
    const response = await this.request(method, path, options);
    return response.status === 204 ? null : response.json();
  }

  me() { return this.json("GET", "/auth/me"); }
  domains() { return this.json("GET", "/datasets/"); }
  datasets(domain) { return this.json("GET", `/datasets/${enc(domain)}`); }
  dataset(domain, name, limit = 20) {
    return this.json("GET", `/datasets/${enc(domain)}/${enc(name)}?limit=${limit}&offset=0`);
  }
  deleteDataset(domain, name) { return this.json("DELETE", `/datasets/${enc(domain)}/${enc(name)}`); }
  models() { return this.json("GET", "/llm/models"); }
  sessions(limit = 50) { return this.json("GET", `/sessions/?limit=${limit}`); }
  session(id) { return this.json("GET", `/sessions/${enc(id)}?limit=100`); }
  renameSession(id, title) { return this.json("PATCH", `/sessions/${enc(id)}`, { json: { title } }); }
  deleteSession(id) { return this.json("DELETE", `/sessions/${enc(id)}`); }

  async exportSession(id, includeSql) {
    const response = await this.request("POST", `/sessions/${enc(id)}/export`,
      { json: { include_sql: includeSql }, accept: "application/pdf" });
    return { blob: await response.blob(), pages: Number(response.headers.get("X-Export-Pages") || 0),
             partial: response.headers.get("X-Export-Partial") };
  }

  // A sync question streamed as server-sent events on the POST's own response.
  ask(body) {
    return this.request("POST", "/queries/", { json: { ...body, stream: true }, accept: "text/event-stream" });
  }

  // Small files: one multipart POST, its progress from XMLHttpRequest.
  uploadMultipart(domain, file, name, onProgress) {
    const form = new FormData();
    form.append("file", file, file.name);
    if (name) form.append("name", name);
    return xhr("POST", this.url(`/datasets/${enc(domain)}`), this.headers({ Accept: "application/json" }), form,
      onProgress);
  }

  // Large files: a signed URL, a PUT straight to storage (no credential on it), then the upload's status.
  async uploadSigned(domain, file, name, onProgress, onStatus) {
    const body = { filename: file.name, size: file.size };
    if (name) body.name = name;
    const grant = await this.json("POST", `/datasets/${enc(domain)}/uploads`, { json: body });
    await xhr(grant.method || "PUT", this.url(grant.url), grant.headers || {}, file, onProgress);
    onStatus("Uploaded; registering the dataset…");
    for (let wait = 250; ; wait = Math.min(wait * 1.5, 2000)) {
      const status = await this.json("GET", grant.status_url);
      if (status.status === "ready") return status;
      if (status.status === "failed") {
        const error = status.error || {};
        throw new ApiError(422, error.code || "upload_failed", error.message || "The upload failed.", null);
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

function enc(value) {
  return encodeURIComponent(value);
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: keep the status text
  }
  const error = (body && body.error) || {};
  return new ApiError(response.status, error.code || "http_error",
    error.message || `${response.status} ${response.statusText}`, error.request_id || null);
}

function xhr(method, url, headers, body, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(method, url);
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    request.onload = () => {
      let parsed = null;
      try {
        parsed = request.responseText ? JSON.parse(request.responseText) : null;
      } catch {
        parsed = null;
      }
      if (request.status >= 200 && request.status < 300) {
        onProgress(1);
        resolve(parsed);
      } else {
        const error = (parsed && parsed.error) || {};
        reject(new ApiError(request.status, error.code || "http_error",
          error.message || `${request.status} ${request.statusText}`, error.request_id || null));
      }
    };
    request.onerror = () => reject(new ApiError(0, "network_error", "The upload could not reach the server.", null));
    request.send(body);
  });
}
