// The header's Pin/Unpin and Mute/Unmute buttons (`PATCH /conversations/{id}/settings`). The
// answer is applied at once; the `settings` frame to every device of ours says the same.

import { $, say } from "./dom.js";

/** "Until unmuted": the API has no forever, so a far time (2100-01-01 UTC). */
export const MUTE_UNTIL_UNMUTED_MS = Date.UTC(2100, 0, 1);

export class SettingsBar {
  constructor({ api, conversations, openId }) {
    Object.assign(this, { api, conversations, openId });
    this.pinButton = $("pin-button");
    this.muteButton = $("mute-button");
    this.error = $("settings-error");
    this.pinButton.addEventListener("click", () => this.toggle("pinned"));
    this.muteButton.addEventListener("click", () => this.toggle("muted"));
    this.shownFor = null;
  }

  /** The open entry, if it has one on the server (a single chat without messages has not). */
  entry() {
    const entry = this.conversations.get(this.openId());
    return entry && (entry.group_id || entry.last_seq > 0) ? entry : null;
  }

  render() {
    const id = this.openId();
    if (id !== this.shownFor) {
      this.shownFor = id;
      say(this.error, "");
    }
    const entry = this.entry();
    this.pinButton.hidden = this.muteButton.hidden = !entry;
    if (!entry) return;
    const pinned = Boolean(entry.pinned);
    const muted = this.conversations.muted(entry);
    this.pinButton.textContent = pinned ? "Unpin" : "Pin";
    this.pinButton.setAttribute("aria-pressed", String(pinned));
    this.muteButton.textContent = muted ? "Unmute" : "Mute";
    this.muteButton.setAttribute("aria-pressed", String(muted));
  }

  async toggle(which) {
    const entry = this.entry();
    if (!entry) return;
    const change =
      which === "pinned"
        ? { pinned: !entry.pinned }
        : { muted_until: this.conversations.muted(entry) ? null : MUTE_UNTIL_UNMUTED_MS };
    this.pinButton.disabled = this.muteButton.disabled = true;
    try {
      const answer = await this.api.settings(entry.conversation_id, change);
      this.conversations.onSettings(answer);
      say(this.error, "");
    } catch (e) {
      say(this.error, `Could not change the settings: ${e.message}`);
    } finally {
      this.pinButton.disabled = this.muteButton.disabled = false;
    }
  }
}
