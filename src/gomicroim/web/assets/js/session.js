// The login session: tokens in localStorage (so a reload keeps it), refreshed before expiry.
// Tabs of one browser share one device and one session; a Web Lock keeps them from spending
// the same single-use refresh token twice, which the server would treat as a stolen token.

import { ApiError, publicApi } from "./api.js";

const SESSION_KEY = "gomicroim.session";
const DEVICE_KEY = "gomicroim.device";
const NOTICE_KEY = "gomicroim.notice";
const MIN_MARGIN_MS = 2000;
const MAX_MARGIN_MS = 60000;
const RETRY_MS = 10000;

function randomHex(bytes) {
  // crypto.randomUUID needs a secure context; a self-hosted server on a LAN address is not one.
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
}

/** A random id for message sends (client_msg_id) and devices. */
export function randomId(prefix) {
  return `${prefix}-${randomHex(16)}`;
}

/** This browser's stable device id: created once, kept across logins and reloads. */
export function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id || !/^[A-Za-z0-9_.:-]{1,64}$/.test(id)) {
    id = randomId("web");
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

/** A message for the login screen after a reload (why the session ended). */
export function takeNotice() {
  const notice = sessionStorage.getItem(NOTICE_KEY);
  sessionStorage.removeItem(NOTICE_KEY);
  return notice || "";
}

function load() {
  try {
    const tokens = JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
    return tokens && tokens.access_token && tokens.refresh_token ? tokens : null;
  } catch {
    return null;
  }
}

export class Session {
  constructor() {
    this.tokens = load();
    this.timer = null;
    this.renewing = null;
    this.endedHandlers = [];
    window.addEventListener("storage", (event) => this.fromOtherTab(event));
    if (this.tokens) this.schedule();
  }

  get active() {
    return this.tokens !== null;
  }

  get userId() {
    return this.tokens ? this.tokens.user_id : null;
  }

  /** Call `handler(notice)` when the session ends (logout here or elsewhere, revocation). */
  onEnded(handler) {
    this.endedHandlers.push(handler);
  }

  /** Keep a new token pair (login, refresh). */
  store(pair) {
    this.tokens = { ...pair, received_at: Date.now() };
    localStorage.setItem(SESSION_KEY, JSON.stringify(this.tokens));
    this.schedule();
  }

  /** A valid access token, renewed first if it is about to expire. */
  async accessToken() {
    if (!this.tokens) throw new ApiError(401, "missing_token", "You are signed out.");
    if (Date.now() >= this.tokens.access_expires_at - MIN_MARGIN_MS) await this.renew("token_expired");
    if (!this.tokens) throw new ApiError(401, "missing_token", "You are signed out.");
    return this.tokens.access_token;
  }

  /**
   * Get a fresh access token after `reason` (an error code). Resolves true when there is one;
   * false when the session is over (then it has ended) or the server could not be reached.
   */
  renew(reason) {
    if (!this.tokens) return Promise.resolve(false);
    if (reason !== "token_expired") {
      this.end("Your session has ended. Please sign in again.");
      return Promise.resolve(false);
    }
    this.renewing ||= this.refresh().finally(() => {
      this.renewing = null;
    });
    return this.renewing;
  }

  async refresh() {
    const held = this.tokens;
    const run = async () => {
      const stored = load();
      if (stored && held && stored.user_id === held.user_id && stored.refresh_token !== held.refresh_token) {
        // Another tab rotated the pair while we waited for the lock: use its tokens.
        this.tokens = stored;
        this.schedule();
        return true;
      }
      try {
        this.store(await publicApi.refresh(held.refresh_token));
        return true;
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          this.end("Your session has ended. Please sign in again.");
        } else {
          this.schedule(RETRY_MS);
        }
        return false;
      }
    };
    return navigator.locks ? navigator.locks.request("gomicroim.refresh", run) : run();
  }

  schedule(delay) {
    clearTimeout(this.timer);
    if (!this.tokens) return;
    if (delay === undefined) {
      const left = this.tokens.access_expires_at - Date.now();
      const margin = Math.min(MAX_MARGIN_MS, Math.max(MIN_MARGIN_MS, left * 0.2));
      delay = Math.max(1000, left - margin);
    }
    this.timer = setTimeout(() => this.renew("token_expired"), delay);
  }

  /** Forget the tokens (the device id stays) and tell the app, with a notice for the login. */
  end(notice) {
    if (!this.tokens) return;
    this.tokens = null;
    clearTimeout(this.timer);
    localStorage.removeItem(SESSION_KEY);
    if (notice) sessionStorage.setItem(NOTICE_KEY, notice);
    for (const handler of this.endedHandlers) handler(notice || "");
  }

  fromOtherTab(event) {
    if (event.key !== SESSION_KEY) return;
    const stored = load();
    if (!stored) {
      this.end("You signed out in another tab.");
    } else if (!this.tokens || stored.user_id !== this.tokens.user_id) {
      location.reload();
    } else {
      this.tokens = stored;
      this.schedule();
    }
  }
}
