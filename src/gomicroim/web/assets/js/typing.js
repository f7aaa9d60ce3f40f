// Typing indicators: our `typing` frames (at most one per conversation every few seconds, as
// the server relays no more), and who else is typing in the open conversation.

import { $ } from "./dom.js";

/** Send at most one `typing` frame per conversation in this time (the server's interval). */
const SEND_EVERY_MS = 3000;
/** A typist is shown this long after their last frame (frames come every 3 s while typing). */
const SHOW_MS = 5000;

export class TypingIndicator {
  /** `send(frame)` → true if the frame went out on the socket. */
  constructor({ me, people, send }) {
    Object.assign(this, { me, people, send });
    this.node = $("typing-indicator");
    this.sentAt = new Map();
    this.openId = null;
    // user id → timer that hides them
    this.typists = new Map();
  }

  /** The user typed into the composer of `conversationId`. */
  typed(conversationId) {
    const now = Date.now();
    if (now - (this.sentAt.get(conversationId) || 0) < SEND_EVERY_MS) return;
    if (this.send({ type: "typing", conversation_id: conversationId })) this.sentAt.set(conversationId, now);
  }

  /** Another conversation is open (or none): forget who typed in the last one. */
  open(conversationId) {
    if (conversationId === this.openId) return;
    this.openId = conversationId;
    this.clear();
  }

  clear() {
    for (const timer of this.typists.values()) clearTimeout(timer);
    this.typists.clear();
    this.render();
  }

  /** A `typing {conversation_id, user_id}` frame. */
  frame(frame) {
    if (frame.conversation_id !== this.openId || frame.user_id === this.me) return;
    clearTimeout(this.typists.get(frame.user_id));
    this.typists.set(
      frame.user_id,
      setTimeout(() => this.stop(frame.user_id), SHOW_MS),
    );
    this.render();
  }

  /** A message arrived: its sender has stopped typing it. */
  message(message) {
    if (message.conversation_id === this.openId) this.stop(message.sender_id);
  }

  stop(userId) {
    if (!this.typists.has(userId)) return;
    clearTimeout(this.typists.get(userId));
    this.typists.delete(userId);
    this.render();
  }

  render() {
    const names = [...this.typists.keys()].map((id) => this.people.name(id));
    let text = "";
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = "Several people are typing…";
    this.node.textContent = text;
    this.node.dataset.count = String(names.length);
  }
}
