// The users we have blocked (`/users/me/blocks`), for the single-chat header's Block button.
// A block closes a single chat both ways: the server refuses our sends with 403
// `you_blocked_user`, and theirs with 403 `blocked`.

import { $ } from "./dom.js";

/** Send refusals that a retry cannot fix while the block stands. */
export const BLOCK_CODES = new Set(["blocked", "you_blocked_user"]);

export class Blocks {
  constructor(api) {
    this.api = api;
    this.ids = new Set();
    this.loaded = null;
    this.listeners = new Set();
  }

  subscribe(fn) {
    this.listeners.add(fn);
  }

  changed() {
    for (const fn of this.listeners) fn();
  }

  /** Fetch every page of the list once; later calls wait for the same fetch. */
  load() {
    this.loaded ||= (async () => {
      const ids = new Set();
      let cursor = null;
      do {
        const page = await this.api.blocks(cursor);
        for (const block of page.blocks) ids.add(block.user_id);
        cursor = page.next_cursor;
      } while (cursor);
      // Blocks made here while the list was loading stay.
      for (const id of ids) this.ids.add(id);
      this.changed();
    })().catch(() => {
      this.loaded = null;
    });
    return this.loaded;
  }

  has(userId) {
    return this.ids.has(userId);
  }

  /** Learned from a refused send (a block made on another device). */
  learn(userId) {
    if (this.ids.has(userId)) return;
    this.ids.add(userId);
    this.changed();
  }

  async block(userId) {
    await this.api.block(userId);
    this.ids.add(userId);
    this.changed();
  }

  async unblock(userId) {
    await this.api.unblock(userId);
    this.ids.delete(userId);
    this.changed();
  }
}

/**
 * The single chat's Block/Unblock button in the header, and the line above the composer that
 * says why messages cannot be sent here (we blocked them, or they refused ours).
 */
export class BlockBar {
  constructor({ blocks, people, outbox, conversations, openId }) {
    Object.assign(this, { blocks, people, outbox, conversations, openId });
    this.button = $("block-button");
    this.notice = $("send-notice");
    this.noticeText = $("send-notice-text");
    this.unblockButton = $("send-notice-unblock");
    this.button.addEventListener("click", () => this.toggle());
    this.unblockButton.addEventListener("click", () => this.toggle());
    blocks.subscribe(() => this.render());
  }

  peer() {
    const entry = this.conversations.get(this.openId());
    return entry && entry.session_type === "single" ? entry.peer_id : null;
  }

  render() {
    const peer = this.peer();
    this.button.hidden = !peer;
    let text = "";
    let code = "";
    if (peer) {
      const blocked = this.blocks.has(peer);
      this.button.textContent = blocked ? "Unblock" : "Block";
      this.button.dataset.blocked = String(blocked);
      this.button.setAttribute("aria-pressed", String(blocked));
      const refused = this.outbox
        .of(this.openId())
        .filter((i) => i.state === "rejected" && BLOCK_CODES.has(i.code))
        .at(-1);
      if (blocked) {
        code = "you_blocked_user";
        text = `You blocked ${this.people.name(peer)}. Unblock them to send messages.`;
      } else if (refused && refused.code === "blocked") {
        code = "blocked";
        text = `${this.people.name(peer)} is not accepting messages from you. Your message was not sent.`;
      }
    }
    this.show(text, code);
  }

  show(text, code = "") {
    this.notice.hidden = !text;
    this.notice.dataset.code = code;
    this.noticeText.textContent = text;
    this.unblockButton.hidden = code !== "you_blocked_user";
  }

  async toggle() {
    const peer = this.peer();
    if (!peer) return;
    this.button.disabled = this.unblockButton.disabled = true;
    try {
      if (this.blocks.has(peer)) await this.blocks.unblock(peer);
      else await this.blocks.block(peer);
    } catch (e) {
      this.show(`Could not change the block: ${e.message}`);
    } finally {
      this.button.disabled = this.unblockButton.disabled = false;
    }
  }
}
