// The "saved" indicator: every write goes through track(); it says Saving… while any write is
// on its way to this browser's storage, Saved once all of them are durable, and Not saved (with
// the reason) if the last one could not be stored. A write the core refused (a required field
// left empty, a value of the wrong type) stored nothing and lost nothing: the screen that made it
// says why, and the indicator keeps saying that everything else is saved. So does a file refused
// because the device is full (StorageFull): it was refused before anything was stored.
import { formatTime } from './format.js';

const REFUSED = new Set(['ValidationError', 'NotFoundError', 'SchemaError', 'IdentityError', 'LocalError',
  'WorkspaceMismatchError', 'ValueError', 'StillOpening', 'StorageFull']);

export class SaveStatus {
  constructor(element) {
    this.element = element;
    this.inFlight = 0;
    this.error = null;
    this.savedAt = null;
    this.staging = false; // staged edits are durable here but not in the shared log: say so
    this.queued = 0; // cell edits kept while the app opens (js/opening.js): durable here, not yet saved changes
    this.render();
  }

  async track(promise) {
    this.inFlight += 1;
    this.render();
    try {
      const result = await promise;
      this.error = null;
      if (!(result && result.queued)) this.savedAt = new Date();
      return result;
    } catch (err) {
      if (!REFUSED.has(err && err.name)) this.error = err;
      throw err;
    } finally {
      this.inFlight -= 1;
      this.render();
    }
  }

  render() {
    const el = this.element;
    if (this.inFlight > 0) {
      el.dataset.state = 'saving';
      el.textContent = 'Saving…';
    } else if (this.queued > 0) {
      el.dataset.state = 'queued';
      el.textContent = `Kept on this device: ${this.queued === 1 ? '1 change' : `${this.queued} changes`} typed while `
        + 'opening, saved in a moment';
    } else if (this.error) {
      el.dataset.state = 'error';
      el.textContent = `Not saved: ${this.error.message}`;
    } else if (this.savedAt) {
      el.dataset.state = 'saved';
      const at = formatTime(this.savedAt);
      el.textContent = this.staging ? `✓ Kept on this device for review, not saved yet · ${at}` : `✓ All changes saved on this device · ${at}`;
    } else {
      el.dataset.state = 'idle';
      el.textContent = '';
    }
  }
}
