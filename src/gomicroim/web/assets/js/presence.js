// Who of our single-chat peers is online (README "Presence"). The socket follows a bounded
// set of peers (`subscribe_presence`); after each (re)connect the page subscribes first and
// then asks `GET /presence`, so a change between the two is not lost: frames win over an
// answer that was asked before them.

import { shortTime } from "./dom.js";

/** The server's `presence.max_subscriptions`: more ids would be refused as a whole. */
export const MAX_FOLLOWED = 200;
/** `GET /presence` takes at most this many ids per call. */
const PER_REQUEST = 100;

export class Presence {
  /** `send(frame)` → true if the frame went out on the socket. */
  constructor({ api, send }) {
    Object.assign(this, { api, send });
    // user id → {online, last_seen_at}
    this.byUser = new Map();
    this.followed = "";
    this.generation = 0;
    this.framed = new Set();
    this.listeners = new Set();
  }

  subscribe(fn) {
    this.listeners.add(fn);
  }

  changed() {
    for (const fn of this.listeners) fn();
  }

  /** The socket (re)connected: whatever was followed before must be subscribed again. */
  reconnected() {
    this.followed = "";
  }

  /** Follow these users (the first MAX_FOLLOWED); a no-op when the set is the same. */
  follow(userIds) {
    const ids = [...new Set(userIds)].slice(0, MAX_FOLLOWED);
    const key = ids.join(",");
    // Nobody to follow (an empty list): the old set can stay, it only costs frames.
    if (key === this.followed || !ids.length) return;
    if (!this.send({ type: "subscribe_presence", user_ids: ids })) return;
    this.followed = key;
    const generation = ++this.generation;
    // A frame that arrives while the answer is on its way is newer than the answer.
    this.framed = new Set();
    for (let at = 0; at < ids.length; at += PER_REQUEST) {
      this.api
        .presence(ids.slice(at, at + PER_REQUEST))
        .then((payload) => {
          if (generation !== this.generation) return;
          for (const state of payload.presence) {
            if (!this.framed.has(state.user_id)) this.byUser.set(state.user_id, state);
          }
          this.changed();
        })
        .catch(() => {});
    }
  }

  /** A `presence {user_id, online, last_seen_at}` frame. */
  frame(frame) {
    if (this.framed) this.framed.add(frame.user_id);
    this.byUser.set(frame.user_id, {
      user_id: frame.user_id,
      online: Boolean(frame.online),
      last_seen_at: frame.last_seen_at ?? null,
    });
    this.changed();
  }

  online(userId) {
    const state = this.byUser.get(userId);
    return Boolean(state && state.online);
  }

  /** "online", "last seen 14:30" (today) or "last seen Dec 2"; "" when unknown. */
  describe(userId) {
    const state = this.byUser.get(userId);
    if (!state) return "";
    if (state.online) return "online";
    return state.last_seen_at ? `last seen ${shortTime(state.last_seen_at)}` : "offline";
  }
}
