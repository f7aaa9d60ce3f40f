// The public HTTP API (/api/v1), with the session's bearer token. No token ever goes in a URL.

const BASE = "/api/v1";
const TIMEOUT_MS = 15000;

/** A failed call: `status` 0 means the server was not reached. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }

  /** Worth trying again later (network, overload, rate limit, server trouble). */
  get transient() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

async function call(method, path, { body, query, token, timeoutMs = TIMEOUT_MS } = {}) {
  const url = new URL(BASE + path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: abort.signal,
      credentials: "omit",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached.");
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 204) return null;
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) {
    const error = (payload && payload.error) || {};
    throw new ApiError(
      response.status,
      error.code || "http_error",
      error.message || `The server answered ${response.status}.`,
      error.field,
    );
  }
  return payload;
}

/** Calls that need no session. */
export const publicApi = {
  register: (username, password) => call("POST", "/auth/register", { body: { username, password } }),
  login: (username, password, deviceId) =>
    call("POST", "/auth/login", {
      body: { username, password, device_id: deviceId, client_type: "web", platform: "browser" },
    }),
  refresh: (refreshToken) => call("POST", "/auth/refresh", { body: { refresh_token: refreshToken } }),
};

/**
 * The authenticated API. `session` provides `accessToken()` and `renew()` (refresh after a 401
 * token_expired; resolves false when the session is over).
 */
export function authedApi(session) {
  async function authed(method, path, options = {}) {
    try {
      return await call(method, path, { ...options, token: await session.accessToken() });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      // Expired between the check and the call (clock skew, a sleeping laptop): renew once.
      if (!(await session.renew(error.code))) throw error;
      return call(method, path, { ...options, token: await session.accessToken() });
    }
  }
  return {
    me: () => authed("GET", "/users/me"),
    user: (id) => authed("GET", `/users/${id}`),
    findUser: (username) => authed("GET", "/users", { query: { username } }),
    logout: () => authed("POST", "/auth/logout"),
    conversations: (before) => authed("GET", "/conversations", { query: { before } }),
    history: (id, cursor) =>
      authed("GET", `/conversations/${encodeURIComponent(id)}/messages`, { query: cursor }),
    markRead: (id, seq) =>
      authed("POST", `/conversations/${encodeURIComponent(id)}/read`, { body: { seq } }),
    send: (message) => authed("POST", "/messages", { body: message }),
    groups: (cursor) => authed("GET", "/groups", { query: { limit: 100, cursor } }),
    group: (id) => authed("GET", `/groups/${id}`),
    createGroup: (name, memberIds) =>
      authed("POST", "/groups", { body: { name, member_ids: memberIds } }),
    members: (id, cursor) => authed("GET", `/groups/${id}/members`, { query: { cursor } }),
    addMembers: (id, userIds) =>
      authed("POST", `/groups/${id}/members`, { body: { user_ids: userIds } }),
    removeMember: (id, userId) => authed("DELETE", `/groups/${id}/members/${userId}`),
    blocks: (cursor) => authed("GET", "/users/me/blocks", { query: { limit: 200, cursor } }),
    block: (userId) => authed("POST", `/users/me/blocks/${userId}`),
    unblock: (userId) => authed("DELETE", `/users/me/blocks/${userId}`),
    settings: (id, change) =>
      authed("PATCH", `/conversations/${encodeURIComponent(id)}/settings`, { body: change }),
    presence: (userIds) => authed("GET", "/presence", { query: { user_ids: userIds.join(",") } }),
  };
}
