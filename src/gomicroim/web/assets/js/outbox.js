// Messages being sent. Each has its client_msg_id from the moment it is typed, so any retry
// (after a timeout, a reload, a reconnect) can only ever store it once. Sent strictly in order,
// one at a time, so a conversation never shows a later message before an earlier one.
// Unsent messages are kept in localStorage and come back after a reload.

import { ApiError } from "./api.js";
import { BLOCK_CODES } from "./blocks.js";
import { randomId } from "./session.js";

const REFUSALS = {
  blocked: "Not sent: this person is not accepting your messages.",
  you_blocked_user: "Not sent: you blocked this person. Unblock them to write again.",
};

export class Outbox {
  /**
   * @param hooks `onSent(message, item)` when stored, `onChange(conversationId)` on any change,
   *   `onRejected(item)` when the server refused it for good (`item.code` says why).
   */
  constructor(api, userId, hooks) {
    this.api = api;
    this.key = `gomicroim.outbox.${userId}`;
    this.hooks = hooks;
    this.flushing = false;
    this.items = this.load();
  }

  load() {
    try {
      const items = JSON.parse(localStorage.getItem(this.key) || "[]");
      // Whatever was in flight when the page went away is retried, with the same id.
      return items.map((item) => (item.state === "rejected" ? item : { ...item, state: "failed" }));
    } catch {
      return [];
    }
  }

  save() {
    if (this.items.length) localStorage.setItem(this.key, JSON.stringify(this.items));
    else localStorage.removeItem(this.key);
  }

  of(conversationId) {
    return this.items.filter((item) => item.conversation_id === conversationId);
  }

  /** Queue a text message to a conversation (`to` and `session_type` as the API wants them). */
  add(conversationId, to, sessionType, body) {
    const item = {
      conversation_id: conversationId,
      to,
      session_type: sessionType,
      client_msg_id: randomId("web"),
      msg_type: "text",
      body,
      state: "queued",
      error: "",
      created_at: Date.now(),
    };
    this.items.push(item);
    this.changed(item);
    this.flush();
    return item;
  }

  /** Try every unsent message again (a reconnect, or the user pressed Retry). */
  retryAll() {
    let any = false;
    for (const item of this.items) {
      if (item.state === "failed") {
        item.state = "queued";
        any = true;
        this.changed(item);
      }
    }
    if (any) this.flush();
  }

  discard(clientMsgId) {
    const item = this.items.find((i) => i.client_msg_id === clientMsgId);
    if (!item || item.state === "sending") return;
    this.items = this.items.filter((i) => i !== item);
    this.changed(item);
  }

  /** A stored message seen in history: a pending copy of it is done. */
  settle(message) {
    const item = this.items.find(
      (i) => i.client_msg_id === message.client_msg_id && i.conversation_id === message.conversation_id,
    );
    if (!item || item.state === "sending") return;
    this.items = this.items.filter((i) => i !== item);
    this.changed(item);
  }

  async flush() {
    if (this.flushing) return;
    this.flushing = true;
    try {
      let item;
      while ((item = this.items.find((i) => i.state === "queued"))) {
        item.state = "sending";
        this.changed(item);
        try {
          const message = await this.api.send({
            to: item.to,
            session_type: item.session_type,
            client_msg_id: item.client_msg_id,
            msg_type: item.msg_type,
            body: item.body,
          });
          this.items = this.items.filter((i) => i !== item);
          this.changed(item);
          this.hooks.onSent(message, item);
        } catch (error) {
          if (!(error instanceof ApiError) || error.transient) {
            // Keep the order: everything after it waits for the next attempt too.
            for (const i of this.items) {
              if (i.state !== "queued" && i !== item) continue;
              i.state = "failed";
              i.error = "Not sent yet; it will be retried.";
              this.changed(i);
            }
            break;
          }
          // Refused for good (a block, a mute, bad input): never retried, only discarded.
          item.state = "rejected";
          item.code = error.code;
          item.error = BLOCK_CODES.has(error.code) ? REFUSALS[error.code] : error.message;
          this.changed(item);
          if (this.hooks.onRejected) this.hooks.onRejected(item);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  changed(item) {
    this.save();
    this.hooks.onChange(item.conversation_id);
  }
}
