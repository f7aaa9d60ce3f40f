// The conversation list in the sidebar, re-rendered from the Conversations model.

import { clear, el, shortTime } from "./dom.js";
import { systemText } from "./system.js";

function preview(message, me, people) {
  if (!message) return "No messages yet";
  if (message.recalled) return "Message recalled";
  // A group change reads the same for everyone, so it has no "You:" or sender prefix.
  if (message.msg_type === "system") return systemText(message, me, people);
  let text = `[${message.msg_type}]`;
  if (message.msg_type === "text") {
    const flat = message.body.replace(/\s+/g, " ");
    // The server cuts list previews (`truncated`); pushed messages come whole.
    text = flat.length > 120 || message.truncated ? `${flat.slice(0, 120)}…` : flat;
  }
  if (message.sender_id === me) return `You: ${text}`;
  if (message.session_type === "group") return `${people.name(message.sender_id)}: ${text}`;
  return text;
}

/** The title of a conversation: the peer's name, or the group's. */
export function titleOf(entry, conversations, people) {
  if (entry.group_id) {
    const group = conversations.groups.get(entry.group_id);
    return group ? group.name : `Group ${entry.group_id}`;
  }
  return people.name(entry.peer_id);
}

export class ConversationList {
  constructor(root, { me, conversations, people, presence, onOpen, onMore }) {
    Object.assign(this, { root, me, conversations, people, presence, onOpen, onMore });
    this.activeId = null;
    root.addEventListener("keydown", (event) => this.arrowKeys(event));
    // The next page loads when "More" scrolls into view; the button itself works without.
    this.moreObserver = new IntersectionObserver(
      (seen) => seen.some((s) => s.isIntersecting) && this.onMore(),
      { root },
    );
  }

  setActive(id) {
    this.activeId = id;
    this.render();
  }

  render() {
    const focused = document.activeElement && document.activeElement.closest("[data-conversation-id]");
    const focusedId = focused && this.root.contains(focused) ? focused.dataset.conversationId : null;
    clear(this.root);
    for (const entry of this.conversations.sorted()) {
      const unread = this.conversations.unread(entry);
      const name = titleOf(entry, this.conversations, this.people);
      const online = entry.session_type === "single" && this.presence.online(entry.peer_id);
      const muted = this.conversations.muted(entry);
      const states = [online && "online", entry.pinned && "pinned", muted && "muted"].filter(Boolean);
      const button = el(
        "button",
        {
          type: "button",
          on: { click: () => this.onOpen(entry.conversation_id) },
          attrs: {
            "aria-current": entry.conversation_id === this.activeId ? "true" : "false",
            "aria-label": [name, ...states, unread ? `${unread} unread` : ""].filter(Boolean).join(", "),
          },
        },
        el("span", {
          class: "name",
          text: name,
          dataset: entry.peer_id ? { userName: entry.peer_id } : {},
        }),
        el(
          "span",
          { class: "marks", attrs: { "aria-hidden": "true" } },
          online ? el("span", { class: "online-dot", dataset: { testid: "online-dot" }, attrs: { title: "online" } }) : null,
          entry.pinned ? el("span", { class: "mark", text: "📌", dataset: { testid: "pin-mark" }, attrs: { title: "pinned" } }) : null,
          muted ? el("span", { class: "mark", text: "🔕", dataset: { testid: "muted-mark" }, attrs: { title: "muted" } }) : null,
        ),
        el("span", { class: "time", text: entry.last_message ? shortTime(entry.updated_at) : "" }),
        el("span", { class: "preview", text: preview(entry.last_message, this.me, this.people) }),
        unread
          ? el("span", {
              class: muted ? "badge muted" : "badge",
              text: unread > 99 ? "99+" : unread,
              dataset: { testid: "unread-badge" },
              attrs: { "aria-hidden": "true" },
            })
          : null,
      );
      this.root.append(
        el(
          "li",
          {
            class: unread ? "unread" : "",
            dataset: { testid: "conversation-item", conversationId: entry.conversation_id },
          },
          button,
        ),
      );
    }
    this.moreObserver.disconnect();
    if (this.conversations.nextBefore) {
      const more = el("button", {
        type: "button",
        class: "secondary small",
        text: "More conversations",
        on: { click: () => this.onMore() },
        dataset: { testid: "more-conversations" },
      });
      this.root.append(el("li", { class: "more" }, more));
      this.moreObserver.observe(more);
    }
    if (focusedId) {
      const again = this.root.querySelector(`[data-conversation-id="${CSS.escape(focusedId)}"] button`);
      if (again) again.focus();
    }
  }

  arrowKeys(event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const buttons = [...this.root.querySelectorAll("button")];
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    event.preventDefault();
    const next = buttons[at + (event.key === "ArrowDown" ? 1 : -1)];
    if (next) next.focus();
  }
}
