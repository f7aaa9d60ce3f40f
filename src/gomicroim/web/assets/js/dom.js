// DOM helpers. User data only ever becomes text nodes or attribute values: never HTML.

/**
 * Create an element. `props` keys: `class`, `text`, `dataset` (object), `on` (event → handler),
 * `attrs` (attribute → value); anything else is set as a property (e.g. `type`, `disabled`).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "attrs") for (const [a, v] of Object.entries(value)) node.setAttribute(a, String(v));
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** The element with this id (the page's static skeleton). */
export const $ = (id) => document.getElementById(id);

/** Remove every child. */
export function clear(node) {
  node.replaceChildren();
}

/** Show an error message (or clear it with an empty string). */
export function say(node, message) {
  node.textContent = message || "";
}

const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const day = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const full = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** A short time for lists: the clock time today, the date otherwise. */
export function shortTime(ms) {
  const date = new Date(ms);
  return date.toDateString() === new Date().toDateString() ? clock.format(date) : day.format(date);
}

/** A full date and time (tooltips, screen readers). */
export function longTime(ms) {
  return full.format(new Date(ms));
}
