// A list people reorder by dragging an item's handle (mouse, pen or finger: pointer events with
// pointer capture, and `touch-action: none` on the handle so a drag does not scroll the page) or by
// keyboard: focus an item, Alt+Up / Alt+Down. Each move is one call (one signed bundle), placing
// the item just after or just before a neighbour, as ordered edges are addressed.
import { h, uid } from './dom.js';

/** Where item `from` lands when moved to index `to` among the others: {after} or {before}. */
export function placement(ids, from, to) {
  const others = ids.filter((_, i) => i !== from);
  if (to <= 0) return { before: others[0] };
  return { after: others[Math.min(to, others.length) - 1] };
}

/**
 * @param {object} o
 * @param {string} o.label accessible name of the list
 * @param {Array<{id: string, label: string}>} o.items in order
 * @param {(item: object, index: number) => Node[]} o.content what each item shows after its handle
 * @param {(id: string, where: {after?: string, before?: string}, to: number) => Promise<void>} o.onMove
 * @param {(text: string) => void} [o.announce] a live region that outlives this list (it is re-rendered after a move)
 * @returns {HTMLElement}
 */
export function reorderList({ label, items, content, onMove, announce }) {
  const helpId = uid('reorder-help');
  const live = h('p', { class: 'visually-hidden', role: 'status', 'aria-live': 'assertive' });
  const ids = items.map((item) => item.id);
  let busy = false;

  async function move(from, to) {
    if (busy || to === from || to < 0 || to > ids.length - 1) return;
    busy = true;
    const said = `Moved ${items[from].label} to position ${to + 1} of ${ids.length}.`;
    if (announce) announce(said);
    else live.textContent = said;
    try {
      await onMove(ids[from], placement(ids, from, to), to);
    } finally {
      busy = false;
    }
  }

  const list = h('ol', { class: 'reorder-list', 'aria-label': label, 'aria-describedby': helpId });
  items.forEach((item, index) => {
    const handle = h('span', { class: 'drag-handle', 'aria-hidden': 'true', title: 'Drag to reorder' }, '⠿');
    const li = h('li', {
      class: 'reorder-item', tabindex: 0, dataset: { id: item.id },
      'aria-label': `${item.label}, position ${index + 1} of ${items.length}`,
      onkeydown: (event) => {
        if (event.target !== li || !event.altKey || (event.key !== 'ArrowUp' && event.key !== 'ArrowDown')) return;
        event.preventDefault();
        move(index, index + (event.key === 'ArrowUp' ? -1 : 1));
      },
    }, handle, ...content(item, index));
    handle.addEventListener('pointerdown', (event) => startDrag(event, li, handle, index));
    list.append(li);
  });

  function startDrag(event, li, handle, from) {
    if (event.button !== 0 || busy) return;
    event.preventDefault();
    handle.setPointerCapture(event.pointerId);
    const siblings = [...list.children];
    const mids = siblings.map((el) => {
      const r = el.getBoundingClientRect();
      return r.top + r.height / 2;
    });
    const startY = event.clientY;
    let to = from;
    li.classList.add('dragging');
    const marks = () => siblings.forEach((el) => el.classList.remove('drop-before', 'drop-after'));
    const onMoveEvent = (ev) => {
      li.style.transform = `translateY(${ev.clientY - startY}px)`;
      to = siblings.reduce((n, el, i) => n + (el !== li && mids[i] < ev.clientY ? 1 : 0), 0);
      marks();
      const others = siblings.filter((el) => el !== li);
      if (to < others.length) others[to].classList.add('drop-before');
      else if (others.length) others[others.length - 1].classList.add('drop-after');
    };
    const end = (commit) => {
      handle.removeEventListener('pointermove', onMoveEvent);
      handle.removeEventListener('pointerup', onUp);
      handle.removeEventListener('pointercancel', onCancel);
      li.classList.remove('dragging');
      li.style.transform = '';
      marks();
      if (commit && to !== from) move(from, to);
    };
    const onUp = () => end(true);
    const onCancel = () => end(false);
    handle.addEventListener('pointermove', onMoveEvent);
    handle.addEventListener('pointerup', onUp);
    handle.addEventListener('pointercancel', onCancel);
  }

  return h('div', { class: 'reorder' },
    h('p', { id: helpId, class: 'hint' }, 'Drag an item by its handle ⠿, or focus it and press Alt+↑ or Alt+↓ to move it.'),
    list, live);
}
