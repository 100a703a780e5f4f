// Modal dialogs: the native <dialog> opened with showModal(), so the rest of the page is inert (focus
// cannot leave it by Tab or by pointer) and Escape closes it; labelled by its heading; focus starts
// on the first control (or `initial`) and returns to whatever opened it.
import { h, uid } from './dom.js';

// A tap on the backdrop closes a dialog, but only a tap meant for the backdrop:
// - not the second tap of a double tap on the button that opened it (that tap lands on the backdrop
//   the first one just put there): taps that began within DOUBLE_TAP_MS of the dialog opening, or
//   before it (a slow device handles the first tap late, the second is already queued), are ignored;
// - not a press inside the panel released outside it (selecting text in a field), and not a tap on
//   the panel's own padding (that is the dialog element too): press and release must both be outside.
const DOUBLE_TAP_MS = 500;

/** Close `dialog` on a deliberate backdrop tap; call the returned `opened()` each time it is shown. */
export function closeOnBackdrop(dialog, close) {
  let from = Infinity; // event time from which a backdrop tap counts
  let pressed = false;
  const outside = (event) => {
    if (event.target !== dialog) return false;
    const r = dialog.getBoundingClientRect();
    return event.clientX < r.left || event.clientX >= r.right || event.clientY < r.top || event.clientY >= r.bottom;
  };
  dialog.addEventListener('pointerdown', (event) => {
    pressed = outside(event) && event.timeStamp >= from;
  });
  dialog.addEventListener('click', (event) => {
    const deliberate = pressed && outside(event);
    pressed = false;
    if (deliberate) close();
  });
  return {
    opened() {
      from = performance.now() + DOUBLE_TAP_MS;
      dialog.dataset.backdropFrom = String(from); // the browser tests wait for this moment, not for a time
    },
  };
}

/**
 * @param {object} o
 * @param {string} o.title the heading (also the dialog's accessible name)
 * @param {string} [o.className]
 * @param {(dialog: HTMLDialogElement, close: () => void) => Node[]} o.body the content under the heading
 * @param {string} [o.initial] CSS selector of the element to focus first
 * @param {() => void} [o.onClose]
 * @returns {{dialog: HTMLDialogElement, close: () => void}}
 */
export function openDialog({ title, className, body, initial, onClose }) {
  const titleId = uid('dialog-title');
  const dialog = h('dialog', { class: `modal ${className || ''}`, 'aria-labelledby': titleId });
  const opener = document.activeElement;
  const close = () => { if (dialog.open) dialog.close(); };
  // a body leaves out what does not apply as null (as h() children do): never shown as the word "null"
  const parts = body(dialog, close).filter((part) => part !== null && part !== undefined && part !== false);
  dialog.append(h('h2', { id: titleId }, title), ...parts);
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (onClose) onClose();
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
  }, { once: true });
  const backdrop = closeOnBackdrop(dialog, close);
  document.body.append(dialog);
  dialog.showModal();
  backdrop.opened();
  const first = (initial && dialog.querySelector(initial))
    || dialog.querySelector('input, select, textarea, button:not([disabled]), [href]');
  if (first) first.focus();
  return { dialog, close };
}

/** Ask a yes/no question; resolves true when the person confirms. */
export function confirmDialog({ title, message, confirm, danger = false }) {
  return new Promise((resolve) => {
    let answer = false;
    openDialog({
      title,
      className: 'confirm-dialog',
      initial: 'button.cancel',
      onClose: () => resolve(answer),
      body: (_dialog, close) => [
        h('p', {}, message),
        h('div', { class: 'dialog-actions' },
          h('button', { type: 'button', class: danger ? 'danger-button' : 'primary', onclick: () => { answer = true; close(); } }, confirm),
          h('button', { type: 'button', class: 'cancel', onclick: close }, 'Cancel')),
      ],
    });
  });
}
