// Display names of users, fetched once per user and shared by every view.

export class People {
  constructor(api) {
    this.api = api;
    this.users = new Map();
    this.loading = new Map();
    this.listeners = new Set();
  }

  /** Call `fn(user)` whenever a profile arrives. */
  subscribe(fn) {
    this.listeners.add(fn);
  }

  remember(user) {
    this.users.set(user.id, user);
    for (const fn of this.listeners) fn(user);
  }

  /** The display name if known; otherwise a placeholder, and the profile is fetched. */
  name(userId) {
    const user = this.users.get(userId);
    if (user) return user.nickname || user.username;
    this.load(userId);
    return `User ${userId}`;
  }

  load(userId) {
    if (this.loading.has(userId)) return this.loading.get(userId);
    const promise = this.api
      .user(userId)
      .then((user) => {
        this.remember(user);
        return user;
      })
      .catch(() => {
        // Forget the failure so the next render asks again.
        this.loading.delete(userId);
        return null;
      });
    this.loading.set(userId, promise);
    return promise;
  }

  /** Put a profile's name into every placeholder rendered for it. */
  fill(root, user) {
    for (const node of root.querySelectorAll(`[data-user-name="${user.id}"]`)) {
      node.textContent = user.nickname || user.username;
    }
  }
}
