// System messages: the server records every group change as a `system` message whose body is
// JSON ({"event", "actor", ...}). They are shown as one-line notices, never as HTML: a notice
// is a list of parts (strings and {user: id}) that views turn into text nodes.

import { el, longTime } from "./dom.js";

/** `actor` of a change an operator made (not a user): 0, or null. */
const isOperator = (actor) => actor === 0 || actor === null;
const NOTICE_PREVIEW = 80;

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dated = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});

function untilText(ms) {
  if (!Number.isFinite(ms) || ms <= 0) return "";
  const date = new Date(ms);
  return date.toDateString() === new Date().toDateString() ? clock.format(date) : dated.format(date);
}

const isId = (v) => Number.isSafeInteger(v) && v > 0;

function quoted(text, max = NOTICE_PREVIEW) {
  const flat = String(text).replace(/\s+/g, " ").trim();
  return `“${flat.length > max ? `${flat.slice(0, max)}…` : flat}”`;
}

/** "a", "a and b", "a, b and c" as parts, with each user a {user} part. */
function userList(ids) {
  const parts = [];
  ids.forEach((id, i) => {
    if (i > 0) parts.push(i === ids.length - 1 ? " and " : ", ");
    parts.push({ user: id });
  });
  return parts;
}

// The server cuts list previews to `chat.preview_chars`, which can cut a body's JSON. Its
// keys come in a fixed order, so the event and the actor are still at the start.
const CUT_BODY = /^\{"event":"([a-z_]{1,40})","actor":(\d{1,16}|null)[,}]/;

/**
 * The body of a system message as an object, or null when it is not one. A body cut short
 * for a list preview gives `{event, actor, cut: true}` when its start can still be read.
 */
export function parseSystem(message) {
  if (!message || message.msg_type !== "system" || typeof message.body !== "string") return null;
  try {
    const body = JSON.parse(message.body);
    return body && typeof body === "object" && !Array.isArray(body) ? body : null;
  } catch {
    const start = message.truncated ? CUT_BODY.exec(message.body) : null;
    if (!start) return null;
    return { event: start[1], actor: start[2] === "null" ? null : Number(start[2]), cut: true };
  }
}

/** What a cut body still says, for events whose details were cut off. */
const WITHOUT_DETAILS = {
  group_created: " created the group",
  member_added: " added members",
  member_removed: " removed members",
  role_changed: " changed a member's role",
  ownership_transferred: " handed over the group",
  member_muted: " muted a member",
  member_unmuted: " unmuted a member",
  group_renamed: " renamed the group",
  notice_changed: " changed the notice",
  avatar_changed: " changed the group picture",
};

/**
 * The notice for a system message as parts: strings and `{user: id}` (a name to show, or
 * "you" for the reader); unknown events and bodies read "The group was updated".
 */
export function systemParts(message) {
  const body = parseSystem(message);
  const generic = ["The group was updated"];
  if (!body || typeof body.event !== "string") return generic;
  const actor = isId(body.actor) ? { user: body.actor } : isOperator(body.actor) ? "An operator" : null;
  const by = (...rest) => (actor ? [actor, ...rest] : null);
  const targets = Array.isArray(body.targets) ? body.targets.filter(isId) : [];
  const target = isId(body.target) ? { user: body.target } : null;
  let parts = null;
  if (body.cut && Object.hasOwn(WITHOUT_DETAILS, body.event)) return by(WITHOUT_DETAILS[body.event]) || generic;
  switch (body.event) {
    case "group_created":
      parts =
        typeof body.name === "string" ? by(" created the group ", quoted(body.name)) : by(" created the group");
      break;
    case "member_added":
      if (targets.length === 1 && targets[0] === body.actor) parts = [{ user: body.actor }, " joined"];
      else if (targets.length) parts = by(" added ", ...userList(targets));
      break;
    case "member_removed":
      if (targets.length) parts = by(" removed ", ...userList(targets));
      break;
    case "member_left":
      if (isId(body.actor)) parts = [{ user: body.actor }, " left"];
      break;
    case "role_changed":
      if (!target) break;
      if (body.role === "admin") parts = by(" made ", target, " an admin");
      else if (body.role === "member") parts = by(" made ", target, " a regular member");
      else if (body.role === "owner") parts = by(" made ", target, " the owner");
      else if (typeof body.role === "string") parts = by(" changed the role of ", target, ` to ${body.role}`);
      break;
    case "ownership_transferred":
      if (!isId(body.to)) break;
      parts = isId(body.actor) ? by(" made ", { user: body.to }, " the owner") : [{ user: body.to }, " is now the owner"];
      break;
    case "member_muted": {
      if (!target) break;
      const until = untilText(body.until);
      parts = until ? by(" muted ", target, ` until ${until}`) : by(" muted ", target);
      break;
    }
    case "member_unmuted":
      if (target) parts = by(" unmuted ", target);
      break;
    case "group_renamed":
      if (typeof body.name === "string") parts = by(" renamed the group to ", quoted(body.name));
      break;
    case "notice_changed":
      if (typeof body.notice !== "string") break;
      parts = body.notice.trim() ? by(" set the notice to ", quoted(body.notice)) : by(" cleared the notice");
      break;
    case "avatar_changed":
      parts = body.avatar_url ? by(" changed the group picture") : by(" removed the group picture");
      break;
    case "group_muted":
      parts = by(" muted the group: only the owner and admins can send");
      break;
    case "group_unmuted":
      parts = by(" unmuted the group");
      break;
    case "group_dissolved":
      parts = isId(body.actor) ? by(" dissolved the group") : ["The group was dissolved"];
      break;
    default:
      break;
  }
  return parts || generic;
}

/** The user ids a notice names (to fetch their profiles). */
export function systemUsers(message) {
  return systemParts(message)
    .filter((p) => typeof p === "object")
    .map((p) => p.user);
}

function nameOf(id, me, people, start) {
  if (id === me) return start ? "You" : "you";
  const name = people.name(id); // also fetches an unknown profile
  if (people.users.has(id)) return name;
  return `${start ? "User" : "user"} ${id}`;
}

/** The notice as one plain string (the conversation list's preview). */
export function systemText(message, me, people) {
  return systemParts(message)
    .map((p, i) => (typeof p === "string" ? p : nameOf(p.user, me, people, i === 0)))
    .join("");
}

/** The notice as a paragraph; names are spans the People view fills in when profiles arrive. */
export function systemNode(message, me, people) {
  const parts = systemParts(message).map((p, i) => {
    if (typeof p === "string") return p;
    if (p.user === me) return nameOf(p.user, me, people, i === 0);
    return el("span", { class: "who", text: nameOf(p.user, me, people, i === 0), dataset: { userName: p.user } });
  });
  return el("p", { class: "body", dataset: { testid: "system-text" } }, ...parts);
}

/** A group change in the thread: a centred one-line notice, no receipt, sender or actions. */
export function systemNotice(message, me, people) {
  return el(
    "li",
    {
      class: "system-notice",
      dataset: { testid: "system-notice", seq: message.seq },
      title: longTime(message.created_at),
    },
    systemNode(message, me, people),
  );
}
