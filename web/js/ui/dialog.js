// Modal dialogs: the native <dialog> opened with showModal(), so the rest of the page is inert (focus
// cannot leave it by Tab or by pointer) and Escape closes it; labelled by its heading; focus starts
// on the first control (or `initial`) and returns to whatever opened it.
import { h, uid } from './dom.js';

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
  dialog.append(h('h2', { id: titleId }, title), ...body(dialog, close));
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (onClose) onClose();
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
  }, { once: true });
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) close(); // a tap on the backdrop closes it
  });
  document.body.append(dialog);
  dialog.showModal();
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
