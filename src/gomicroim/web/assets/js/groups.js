// Group dialogs: create a group, see its members, add, remove, leave.

import { ApiError } from "./api.js";
import { $, clear, el, say } from "./dom.js";

/** Resolve usernames to user ids; throws with every name that does not exist. */
export async function resolveUsernames(api, names) {
  const found = await Promise.all(
    names.map((name) =>
      api.findUser(name).catch((error) => {
        if (error instanceof ApiError && (error.status === 404 || error.status === 400)) return name;
        throw error;
      }),
    ),
  );
  const missing = found.filter((f) => typeof f === "string");
  if (missing.length) throw new Error(`No user called ${missing.join(", ")}.`);
  return found;
}

function splitNames(text) {
  return [...new Set(text.split(/[\s,]+/).filter(Boolean))];
}

function wireClose(dialog) {
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => dialog.close());
  }
}

export class GroupDialogs {
  /**
   * @param ctx `api`, `me`, `people`, `conversations`, `openConversation(id)`,
   *   `refreshGroups()`, `leftGroup(groupId)`.
   */
  constructor(ctx) {
    this.ctx = ctx;
    this.groupId = null;
    this.createDialog = $("group-dialog");
    this.membersDialog = $("members-dialog");
    wireClose(this.createDialog);
    wireClose(this.membersDialog);
    $("group-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
    $("add-member-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.addMember();
    });
    $("leave-button").addEventListener("click", () => this.leave());
  }

  openCreate() {
    $("group-form").reset();
    say($("group-error"), "");
    this.createDialog.showModal();
    $("group-name").focus();
  }

  async create() {
    const name = $("group-name").value.trim();
    const error = $("group-error");
    if (!name) {
      say(error, "Give the group a name.");
      return;
    }
    try {
      const users = await resolveUsernames(this.ctx.api, splitNames($("group-members").value));
      const ids = users.map((u) => u.id).filter((id) => id !== this.ctx.me);
      const group = await this.ctx.api.createGroup(name, ids);
      await this.ctx.refreshGroups();
      this.createDialog.close();
      this.ctx.openConversation(`g:${group.id}`);
    } catch (e) {
      say(error, e.message);
    }
  }

  async openMembers(groupId) {
    this.groupId = groupId;
    say($("members-error"), "");
    $("add-member-form").reset();
    const group = this.ctx.conversations.groups.get(groupId);
    $("members-dialog-title").textContent = group ? `Members of ${group.name}` : "Members";
    clear($("member-list"));
    this.membersDialog.showModal();
    await this.renderMembers();
  }

  async renderMembers() {
    const list = $("member-list");
    const members = [];
    try {
      // Large groups answer in pages: follow next_cursor until the last one.
      let cursor = null;
      do {
        const page = await this.ctx.api.members(this.groupId, cursor);
        members.push(...page.members);
        cursor = page.next_cursor;
      } while (cursor);
    } catch (e) {
      say($("members-error"), e.message);
      return;
    }
    const mine = members.find((m) => m.user_id === this.ctx.me);
    const myRole = mine ? mine.role : "member";
    clear(list);
    for (const member of members) {
      const removable =
        member.user_id !== this.ctx.me &&
        member.role !== "owner" &&
        (myRole === "owner" || (myRole === "admin" && member.role === "member"));
      const name = this.ctx.people.name(member.user_id);
      list.append(
        el(
          "li",
          { dataset: { testid: "member-item", userId: member.user_id } },
          el("span", { class: "member-name", text: name, dataset: { userName: member.user_id } }),
          el("span", { class: "role", text: member.user_id === this.ctx.me ? `${member.role} (you)` : member.role }),
          removable
            ? el("button", {
                type: "button",
                class: "danger small",
                text: "Remove",
                attrs: { "aria-label": `Remove ${name}` },
                dataset: { testid: "remove-member" },
                on: { click: () => this.remove(member.user_id) },
              })
            : null,
        ),
      );
    }
    $("add-member-form").hidden = myRole === "member";
    $("leave-button").hidden = myRole === "owner";
  }

  async addMember() {
    const input = $("add-member-username");
    const names = splitNames(input.value);
    if (!names.length) return;
    try {
      const users = await resolveUsernames(this.ctx.api, names);
      await this.ctx.api.addMembers(this.groupId, users.map((u) => u.id));
      input.value = "";
      say($("members-error"), "");
      await this.renderMembers();
      await this.ctx.refreshGroups();
    } catch (e) {
      say($("members-error"), e.message);
    }
  }

  async remove(userId) {
    try {
      await this.ctx.api.removeMember(this.groupId, userId);
      await this.renderMembers();
      await this.ctx.refreshGroups();
    } catch (e) {
      say($("members-error"), e.message);
    }
  }

  async leave() {
    try {
      await this.ctx.api.removeMember(this.groupId, this.ctx.me);
      this.membersDialog.close();
      this.ctx.leftGroup(this.groupId);
    } catch (e) {
      say($("members-error"), e.message);
    }
  }
}
