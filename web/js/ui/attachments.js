// Attachments in the record form: a file field shows a thumbnail (photos) or a file tile (PDFs),
// whether the file is on this device, and what can be done: open it (works offline once here), get
// it now from whoever has it, keep it on this device (pinned: fetched whenever a peer has it, e.g.
// the plot before tech), remove the local copy. Attach from the files or the camera of a tablet.
// The bytes live in the worker (worker/blobs.js); this module only asks for them.
import { h, clear, uid } from './dom.js';
import { openDialog } from './dialog.js';

/** A blob field's value ([hash, name, size, media type]) as the ref the worker takes. */
export function refOf(value) {
  if (!Array.isArray(value) || value.length !== 4) return null;
  return { hash: value[0], name: value[1], size: value[2], media_type: value[3] };
}

export function sizeText(n) {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(1)} MB`;
  if (n >= 1024) return `${Math.round(n / 1024)} KB`;
  return `${n} bytes`;
}

const isImage = (ref) => ref.media_type.startsWith('image/');
const isPdf = (ref) => ref.media_type === 'application/pdf';
const kindText = (ref) => (isPdf(ref) ? 'PDF' : isImage(ref) ? 'Photo' : 'File');

function stateText(ref, status) {
  if (!status) return '';
  if (status.state === 'here') return status.pinned ? 'On this device, kept for offline' : 'On this device';
  if (status.state === 'fetching') {
    const pct = ref.size ? Math.floor((100 * status.received) / ref.size) : 0;
    if (status.detail && status.detail.startsWith('Still fetching')) return status.received ? `${status.detail} (${pct}%)` : status.detail;
    return status.received ? `Getting it… ${pct}%` : 'Getting it…';
  }
  if (status.state === 'too_large') return 'Too large for this workspace’s file limit';
  if (status.state === 'failed') return `Could not get it: ${status.detail}`;
  if (status.syncing && status.detail) return 'Not on any connected device. It comes when someone who has it connects.';
  return 'Not on this device yet';
}

/** Open the file in a viewer (image or the browser's PDF viewer), from this device's copy. */
export async function openViewer(app, ref) {
  const file = await app.api.call('blob:open', { hash: ref.hash });
  const url = URL.createObjectURL(file.blob);
  const content = isImage(ref)
    ? h('img', { class: 'viewer-image', src: url, alt: ref.name })
    : isPdf(ref)
      ? h('iframe', { class: 'viewer-pdf', src: url, title: ref.name })
      : h('p', {}, 'This kind of file opens in another app: download it.');
  openDialog({
    title: ref.name,
    className: 'viewer-dialog',
    onClose: () => URL.revokeObjectURL(url),
    body: (_dialog, close) => [
      h('div', { class: 'viewer-body' }, content),
      h('div', { class: 'dialog-actions' },
        h('a', { class: 'button', href: url, download: ref.name }, 'Download'),
        h('button', { type: 'button', class: 'primary', onclick: close }, 'Close')),
    ],
  });
}

/**
 * The attachment control of one blob field in the record form.
 * @returns {{el: HTMLElement, set: (value: any) => void}}
 */
export function attachmentField({ app, record, field, id, value }) {
  const box = h('div', { class: 'attachment', id, role: 'group', 'aria-label': field.display_name });
  let current = value;
  let thumbUrl = null;
  let renderId = 0;
  const message = h('p', { class: 'attachment-message', role: 'status', 'aria-live': 'polite' });

  const pick = (capture) => {
    const input = h('input', {
      type: 'file', accept: capture ? 'image/*' : 'image/*,application/pdf', class: 'visually-hidden',
      'aria-label': capture ? `Take a photo for ${field.display_name}` : `Choose a file for ${field.display_name}`,
      onchange: async () => {
        const file = input.files && input.files[0];
        input.remove();
        if (!file) return;
        message.textContent = `Saving ${file.name}…`;
        try {
          const result = await app.write('blob:attach', { file, record, field: field.id });
          current = result.value;
          message.textContent = `${file.name} attached.`;
          render();
        } catch (err) {
          message.textContent = `Not attached: ${err.message}`;
        }
      },
    });
    if (capture) input.setAttribute('capture', 'environment');
    box.append(input);
    input.click();
  };

  async function render() {
    const mine = ++renderId;
    const ref = refOf(current);
    let status = null;
    if (ref) {
      try {
        status = (await app.api.call('blob:status', { refs: [ref] }))[ref.hash];
      } catch (err) {
        status = { state: 'missing', detail: err.message };
      }
    }
    let thumb = null;
    if (ref && status && status.state === 'here' && isImage(ref)) {
      try {
        const file = await app.api.call('blob:open', { hash: ref.hash });
        if (thumbUrl) URL.revokeObjectURL(thumbUrl);
        thumbUrl = URL.createObjectURL(file.blob);
        thumb = h('img', { class: 'attachment-thumb', src: thumbUrl, alt: `Photo: ${ref.name}` });
      } catch { thumb = null; }
    }
    if (mine !== renderId) return;
    // While a transfer runs (or waits for someone who has the file), look again shortly: progress
    // events also re-render, this keeps the line true if one is missed.
    if (status && (status.state === 'fetching' || (status.state === 'missing' && status.syncing && status.detail))) {
      setTimeout(() => { if (box.isConnected && mine === renderId) render(); }, 1000);
    }
    const here = status && status.state === 'here';
    const tile = thumb || (ref ? h('div', { class: `attachment-tile${here ? '' : ' missing'}`, 'aria-hidden': 'true' },
      here ? kindText(ref) : '↓') : null);
    const keepId = uid('keep');
    clear(box).append(
      ref ? h('div', { class: 'attachment-card' },
        here ? h('button', { type: 'button', class: 'attachment-preview', 'aria-label': `Open ${ref.name}`, onclick: () => openViewer(app, ref) }, tile)
          : tile,
        h('div', { class: 'attachment-text' },
          h('strong', { class: 'attachment-name' }, ref.name),
          h('span', { class: 'attachment-size' }, `${kindText(ref)} · ${sizeText(ref.size)}`),
          h('span', { class: `attachment-state state-${status ? status.state : 'unknown'}` }, stateText(ref, status)),
          h('div', { class: 'attachment-actions' },
            here ? h('button', { type: 'button', onclick: () => openViewer(app, ref) }, 'Open')
              : h('button', {
                type: 'button', class: 'primary', disabled: status && status.state === 'fetching',
                onclick: async () => {
                  message.textContent = '';
                  try {
                    await app.api.call('blob:get', { ref });
                    render();
                  } catch (err) {
                    message.textContent = err.message;
                  }
                },
              }, 'Get it now'),
            h('span', { class: 'keep-toggle' },
              h('input', {
                type: 'checkbox', id: keepId, checked: Boolean(status && status.pinned),
                onchange: async (event) => {
                  try {
                    await app.api.call('blob:keep', { ref, keep: event.target.checked });
                    message.textContent = event.target.checked ? `${ref.name} is kept on this device for offline use.` : '';
                  } catch (err) {
                    event.target.checked = false;
                    message.textContent = err.message;
                  }
                  render();
                },
              }),
              h('label', { for: keepId }, 'Keep on this device')),
            here && !(status && status.pinned) ? h('button', {
              type: 'button', class: 'link-button',
              onclick: async () => {
                await app.api.call('blob:remove', { hash: ref.hash });
                message.textContent = `${ref.name} was removed from this device; it stays with the show and can be fetched again.`;
                render();
              },
            }, 'Remove from this device') : null))) : h('p', { class: 'hint' }, 'No file yet.'),
      record ? h('div', { class: 'attachment-actions attach-buttons' },
        h('button', { type: 'button', onclick: () => pick(false) }, ref ? 'Replace with a file' : 'Choose a file'),
        h('button', { type: 'button', onclick: () => pick(true) }, 'Take a photo'))
        : h('p', { class: 'hint' }, 'Create the record first, then attach a file.'),
      message);
  }

  const onBlobs = (event) => {
    const ref = refOf(current);
    if (!box.isConnected) {
      window.removeEventListener('openprod-blobs', onBlobs);
      return;
    }
    if (ref && event.detail && event.detail.changed.includes(ref.hash)) render();
  };
  window.addEventListener('openprod-blobs', onBlobs);
  render();
  return {
    el: box,
    set(next) {
      if (JSON.stringify(next) === JSON.stringify(current)) return;
      current = next;
      render();
    },
  };
}
