// The push socket (/ws): reconnects with exponential backoff and jitter, pings to notice dead
// connections, and reports its state. Pushes are only a fast path; the app pulls after each
// (re)connect, so a frame lost while offline costs nothing.

const PING_EVERY_MS = 25000;
const DEAD_AFTER_MS = 10000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30000;
const CLOSE_UNAUTHORISED = 4401;
const CLOSE_REPLACED = 4409;

export class PushSocket {
  /**
   * @param {object} hooks `token()` → access token, `renew()` → bool, `onHello(frame)`,
   *   `onFrame(frame)`, `onState(state, detail)` with state connecting|online|offline|replaced.
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.ws = null;
    this.attempts = 0;
    this.stopped = true;
    this.retryTimer = null;
    this.pingTimer = null;
    this.deadTimer = null;
    window.addEventListener("online", () => this.connectSoon());
    window.addEventListener("offline", () => this.drop());
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.drop(false);
  }

  /** Connect now, resetting the backoff (the network came back, the user asked). */
  connectSoon() {
    if (this.stopped) return;
    this.attempts = 0;
    if (!this.ws) this.connect();
  }

  async connect() {
    clearTimeout(this.retryTimer);
    if (this.stopped || this.ws) return;
    this.state("connecting");
    let token;
    try {
      token = await this.hooks.token();
    } catch {
      this.retry();
      return;
    }
    if (this.stopped || this.ws) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/ws?token=${encodeURIComponent(token)}`);
    this.ws = ws;
    this.expectFrameWithin(DEAD_AFTER_MS);
    ws.addEventListener("message", (event) => this.received(ws, event));
    ws.addEventListener("close", (event) => this.closed(ws, event.code));
  }

  received(ws, event) {
    if (ws !== this.ws) return;
    clearTimeout(this.deadTimer);
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame.type === "hello") {
      this.attempts = 0;
      this.state("online");
      this.keepAlive();
      this.hooks.onHello(frame);
    } else if (frame.type !== "pong") {
      this.hooks.onFrame(frame);
    }
  }

  async closed(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.clearTimers();
    if (this.stopped) return;
    if (code === CLOSE_REPLACED) {
      this.state("replaced");
      return;
    }
    // A refused token: renew it first. If the session is over the app stops this socket.
    if (code === CLOSE_UNAUTHORISED) await this.hooks.renew();
    if (!this.stopped) this.retry();
  }

  /** Send a frame if the socket is open; false if it is not (the frame is dropped). */
  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Give up on the current socket at once (dead, or the browser went offline). */
  drop(reconnect = true) {
    const ws = this.ws;
    this.ws = null;
    this.clearTimers();
    if (ws) ws.close();
    if (reconnect && !this.stopped) this.retry();
  }

  retry() {
    clearTimeout(this.retryTimer);
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempts);
    // Jitter: many clients cut off at once by a restart must not come back in lockstep.
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.attempts = Math.min(this.attempts + 1, 16);
    this.state("offline", delay);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  keepAlive() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
      this.ws.send(JSON.stringify({ type: "ping" }));
      this.expectFrameWithin(DEAD_AFTER_MS);
    }, PING_EVERY_MS);
  }

  expectFrameWithin(ms) {
    clearTimeout(this.deadTimer);
    this.deadTimer = setTimeout(() => this.drop(), ms);
  }

  clearTimers() {
    clearInterval(this.pingTimer);
    clearTimeout(this.deadTimer);
  }

  state(name, detail) {
    this.hooks.onState(name, detail);
  }
}
