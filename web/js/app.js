// The page: starts the worker, registers the service worker, routes between screens and keeps
// the header (saved indicator, identity) and footer (offline, storage, tab role) up to date.
//
// Routes (location.hash):
//   #/                              identity + workspaces on this device + create
//   #/w/<id>                        a workspace (shows its first table)
//   #/w/<id>/t/<table>              the grid of a table
//   #/w/<id>/t/<table>/new          new record form
//   #/w/<id>/t/<table>/r/<record>   record form
//   #/w/<id>/t/<table>/print        print view
//   #/w/<id>/v/<view>               a document or saved view (print, export, edit)
//   #/w/<id>/conflicts              open conflicts, and resolving them
//   #/w/<id>/staging                staging: the active overlay, drift, stashed and pending overlays
//   #/w/<id>/scripts                scripts: run one with its inputs, watch progress, review in staging
//   #/w/<id>/sync                   sync: status, publishing, inviting, connection settings
//   #/w/<id>/call[/<cue list>]       calling the show: choose a cue list, then its full-screen calling view
//   #/w/<id>/fields                 shared fields: mapping suggestions, linking tables (ui/mappings.js)
//   #/w/<id>/rules                  rules and their suggestions (ui/rules.js)
//   #/join/<id>                     an invitation link: the start screen with the join form filled in
import * as Comlink from '../vendor/comlink.mjs';
import { RtcBridge } from './rtc.js';
import { renderCalling, renderCueLists } from './ui/calling.js';
import { renderConflicts } from './ui/conflicts.js';
import { renderMappings } from './ui/mappings.js';
import { renderRules } from './ui/rules.js';
import { h, mount } from './ui/dom.js';
import { showOpening, watchOpening } from './opening.js';
import { readShared, readWorkspaceEntry } from './worker/store.js';
import { renderForm } from './ui/form.js';
import { watchInstall } from './ui/install.js';
import { renderStorageBanner, renderStorageLine, storageRisk } from './ui/keep.js';
import { showHistory } from './ui/history.js';
import { renderPrint } from './ui/print.js';
import { renderBanner, renderStaging, startStaging, stashStaging } from './ui/staging.js';
import { renderScripts } from './ui/scripts.js';
import { identityForm, renderStart } from './ui/start.js';
import { SaveStatus } from './ui/status.js';
import { renderSync } from './ui/sync.js';
import { SyncIndicator } from './ui/syncstatus.js';
import { loadView } from './ui/gridview.js';
import { renderTable } from './ui/table.js';
import { clearPageFurniture } from './ui/paper.js';
import { openViewBuilder, renderDocument } from './ui/views.js';

const $ = (id) => document.getElementById(id);
/** Notes a step of opening a workspace (main.js `openprodOpening`; a stuck test prints them). */
const traced = (step) => { if (window.openprodOpening) window.openprodOpening.push([Math.round(performance.now()), step]); };
/** How long opening waits for the storage banner's reads (refreshStorage) before drawing the screen. */
const STORAGE_WAIT_MS = 2000;
/** The start screen's address: no hash, "#" or "#/". */
const isStart = (url) => /^#?\/?$/.test(new URL(url).hash);

class App {
  constructor(api) {
    this.api = api;
    this.status = new SaveStatus($('save-status'));
    this.main = $('main');
    this.sidebar = $('sidebar');
    this.ws = null; // {id, info, role}
    this.screen = null; // what is shown; may have refresh() and focus()
    this.views = new Map(); // table id -> sort/filter/active state, kept while the tab lives
    this.docs = new Map(); // view id -> {day}: what a document shows, kept while the tab lives
    this.identity = null;
    this.refreshTimer = null;
    this.routing = Promise.resolve();
    this.wsStatus = null; // {overlay, drift, conflicts, overlays_waiting} from the worker
    this.progressListener = null; // the CSV import dialog, while it runs
    this.syncIndicator = new SyncIndicator($('sync-status'));
    this.syncStatus = null; // the sync engine's status (worker/sync.js), for the open workspace
    this.rtc = new RtcBridge(api); // WebRTC for the worker's sync engine (workers have no RTCPeerConnection)
  }

  // --- services for the screens ---------------------------------------------------------

  read(method, args = {}) {
    if (this.preview) return this.preview.read(method, args); // still opening: the cached screen
    return this.api.call(method, args);
  }

  write(method, args = {}) {
    if (this.preview) return this.status.track(this.preview.write(method, args)); // kept, or refused
    return this.status.track(this.api.call(method, args));
  }

  /** Tell the person something, for a few seconds; `action` ({label, run}) adds a button that does it. */
  notify(message, action = null) {
    const toast = $('toast');
    toast.textContent = message;
    toast.classList.toggle('with-action', Boolean(action));
    if (action) {
      toast.append(h('button', {
        type: 'button', class: 'toast-action', onclick: () => { toast.hidden = true; action.run(); },
      }, action.label));
    }
    toast.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => { toast.hidden = true; }, action ? 10000 : 6000);
  }

  navigate(path) {
    if (location.hash === `#${path}`) this.route();
    else location.hash = path;
  }

  tableHref(tableId) {
    return `/w/${this.ws.id}/t/${tableId}`;
  }

  /** A table's grid choices: sort, filter and columns as saved on this device, plus the selection. */
  view(tableId) {
    if (!this.views.has(tableId)) this.views.set(tableId, { ...loadView(this.ws.id, tableId), base: this.tableHref(tableId) });
    return this.views.get(tableId);
  }

  /** A document's choices (the call sheet's day) while the tab lives. */
  docState(viewId) {
    if (!this.docs.has(viewId)) this.docs.set(viewId, {});
    return this.docs.get(viewId);
  }

  /** The documents and saved views (the sidebar lists them); after a save, a delete, or sync. */
  async refreshViews() {
    if (!this.ws) return;
    this.ws.views = await this.read('views');
    const parts = location.hash.replace(/^#\/?/, '').split('/');
    if (parts[2] === 'v') this.renderSidebar(null, null, parts[3]);
    else if (parts[2] === 't') this.renderSidebar(parts[3]);
    else this.renderSidebar(null, parts[2]);
  }

  newView(table, columns) {
    openViewBuilder({ app: this, table, columns }).catch((err) => this.notify(err.message));
  }

  rememberActive(tableId, recordId) {
    this.view(tableId).activeId = recordId;
  }

  showHistory(record, field, label) {
    return showHistory((m, a) => this.read(m, a), record, field, label).catch((err) => this.notify(err.message));
  }

  /** Undo or redo this person's latest change (one new bundle); says what happened. */
  async undoRedo(which) {
    if (!this.ws) return;
    try {
      const result = await this.write(which);
      const elsewhere = result.done && result.table && !this.showChange(result);
      this.notify(result.message, elsewhere ? { label: 'Show', run: () => this.showChange(result, true) } : null);
    } catch (err) {
      this.notify(`Not done: ${err.message}`);
    }
  }

  /** Take the person to what undo or redo changed, as Sheets does: the grid showing it selects and
   * marks it; on another table's grid or form, that table opens there. Elsewhere (a document, the
   * calling view) nothing moves unless `go` (the message's Show button): false then. */
  showChange({ table, record, field }, go = false) {
    if (!this.ws || !this.ws.info.tables.some((t) => t.id === table)) return false;
    const grid = this.screen && this.screen.grid;
    if (grid && grid.table.id === table) {
      grid.show(record, field);
      return true;
    }
    const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
    if (parts[2] === 't' && parts[4] === 'r' && parts[5] === record) return true; // its form is open: it shows it
    if (!go && parts[2] !== 't') return false;
    this.view(table).showAt = { record, field, until: Date.now() + 10000 };
    this.view(table).scroll = null; // scroll to it, not to where the grid was left
    this.navigate(this.tableHref(table));
    return true;
  }

  onGlobalKey(event) {
    const ctrl = event.ctrlKey || event.metaKey;
    if (!ctrl || event.altKey || !this.ws) return;
    if (event.target.closest('input, textarea, select, [contenteditable]')) return; // text undo stays native
    const key = event.key.toLowerCase();
    if (key === 'z' && !event.shiftKey) {
      event.preventDefault();
      this.undoRedo('undo');
    } else if ((key === 'z' && event.shiftKey) || key === 'y') {
      event.preventDefault();
      this.undoRedo('redo');
    }
  }

  workspaceName() {
    return this.ws ? this.ws.info.name : '';
  }

  displayName() {
    return this.identity ? this.identity.display_name : '';
  }

  // --- routing ----------------------------------------------------------------------------

  route() {
    this.routing = this.routing.then(() => this.routeNow()).catch((err) => {
      console.error(err);
      mount(this.main, h('h1', {}, 'Something went wrong'), h('p', { class: 'error' }, err.message),
        h('p', {}, h('a', { href: '#/' }, 'Back to your workspaces')));
    });
    return this.routing;
  }

  /** Screens re-render asynchronously; one left behind must not paint over the next: they compare. */
  get generation() {
    return this.routeGeneration || 0;
  }

  async routeNow() {
    try {
      await this.routeScreen();
      // Another screen starts at its top: the page's scroll position belongs to the screen left
      // behind (the same address drawn again, after a sync or a save, keeps where the person was).
      if (this.routedAddress !== undefined && this.routedAddress !== location.hash) window.scrollTo(0, 0);
    } finally {
      this.routedAddress = location.hash;
      if (document.body.dataset.opening === 'replacing') delete document.body.dataset.opening; // opening.js leave()
      document.body.classList.remove('opening');
      $('opening-status').hidden = true;
    }
  }

  async routeScreen() {
    this.routeGeneration = this.generation + 1;
    clearPageFurniture(); // a document sets its own page title and numbers; other screens print plain
    const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
    this.screen = null;
    if (parts[0] !== 'w' || !parts[1] || !this.identity) {
      // no workspace opens here: the worker gives back the one it began reading at its start, if any
      if (!this.ws) this.api.forgetOpening().catch((err) => console.warn(err));
    }
    if (parts[0] !== 'w' || !parts[1]) {
      this.showWorkspaceChrome(false);
      const invite = parts[0] === 'join' && parts[1] ? `${location.origin}/#/join/${parts[1]}` : '';
      this.screen = await renderStart({ main: this.main, app: this, invite });
      document.title = 'Openprod';
      return;
    }
    if (!this.identity) {
      this.navigate('/');
      return;
    }
    await this.openWorkspace(parts[1]);
    if (parts[2] === 'sync') {
      this.renderSidebar(null, 'sync');
      document.title = `Sync · ${this.ws.info.name || 'Workspace'} · Openprod`;
      this.screen = await renderSync({ main: this.main, app: this });
      this.screen.focus();
      return;
    }
    const tables = this.ws.info.tables;
    if (!tables.length) {
      this.renderSidebar(null);
      mount(this.main, h('h1', {}, this.ws.info.name || 'Workspace'), h('p', {}, 'This workspace has no tables yet.'),
        h('p', {}, h('a', { href: `#/w/${this.ws.id}/sync` }, 'See sync status')));
      return;
    }
    if (parts[2] === 'call') {
      this.renderSidebar(null, 'call');
      document.title = `Call the show · ${this.ws.info.name} · Openprod`;
      this.screen = parts[3] ? await renderCalling({ main: this.main, app: this, listId: parts[3] })
        : await renderCueLists({ main: this.main, app: this });
      this.screen.focus();
      return;
    }
    if (parts[2] === 'conflicts' || parts[2] === 'staging') {
      this.renderSidebar(null, parts[2]);
      const conflicts = parts[2] === 'conflicts';
      document.title = `${conflicts ? 'Conflicts' : 'Review before saving'} · ${this.ws.info.name} · Openprod`;
      this.screen = conflicts ? await renderConflicts({ main: this.main, app: this })
        : await renderStaging({ main: this.main, app: this });
      this.screen.focus();
      return;
    }
    const flows = { fields: ['Shared fields', renderMappings], rules: ['Rules', renderRules], scripts: ['Scripts', renderScripts] }; // more screens of the same shape join here
    if (flows[parts[2]]) {
      const [title, render] = flows[parts[2]];
      this.renderSidebar(null, parts[2]);
      document.title = `${title} · ${this.ws.info.name} · Openprod`;
      this.screen = await render({ main: this.main, app: this });
      this.screen.focus();
      return;
    }
    if (parts[2] === 'v' && parts[3]) {
      this.renderSidebar(null, null, parts[3]);
      const view = (this.ws.views || []).find((v) => v.id === parts[3]);
      document.title = `${view ? view.name : 'Document'} · ${this.ws.info.name} · Openprod`;
      this.screen = await renderDocument({ main: this.main, app: this, viewId: parts[3] });
      this.screen.focus();
      return;
    }
    if (parts[2] !== 't') {
      history.replaceState(null, '', `#${this.tableHref(tables[0].id)}`);
      return this.routeScreen();
    }
    const table = tables.find((t) => t.id === parts[3]);
    if (!table) {
      mount(this.main, h('h1', {}, 'No such table'), h('p', {}, h('a', { href: `#/w/${this.ws.id}` }, 'Back')));
      return;
    }
    this.renderSidebar(table.id);
    const args = { main: this.main, table, app: this, view: this.view(table.id) };
    document.title = `${table.display_name} · ${this.ws.info.name} · Openprod`;
    if (parts[4] === 'new') this.screen = await renderForm({ ...args, recordId: null });
    else if (parts[4] === 'r' && parts[5]) this.screen = await renderForm({ ...args, recordId: parts[5] });
    else if (parts[4] === 'print') this.screen = await renderPrint(args);
    else {
      this.screen = await renderTable(args);
      this.screen.focus();
    }
  }

  async openWorkspace(id) {
    const preview = this.preview && this.preview.workspace === id ? this.preview : null;
    if (this.ws && this.ws.id === id && !preview) return;
    if (!preview) {
      this.showWorkspaceChrome(false);
      // Until the first screen is rendered the page body stays invisible and only a fixed notice shows:
      // the sidebar, the header's controls and the screen arriving one by one would shift the layout.
      document.body.classList.add('opening');
      $('opening-status').hidden = false;
      mount(this.main);
    }
    traced('asked the worker');
    const stopWatch = watchOpening(this, id); // never silent: past 20 s it says what is happening
    let role;
    let listed;
    let info;
    try {
      role = await this.api.openWorkspace(id);
      traced(`opened: ${role}`);
      performance.mark('openprod-opened'); // the worker has the workspace open (bench breakdown)
      listed = this.api.call('views', {}).catch(() => []); // asked with info: one wait, not two
      info = await this.api.call('info', {});
      traced('info');
    } finally {
      stopWatch();
    }
    if (preview) await preview.leave(); // the cached screen steps aside (a cell being typed in is kept first)
    const upgrading = Boolean(info.upgrades && info.upgrades.length);
    if (upgrading) info = await this.upgradeModules(info);
    this.ws = { id, info, role, views: [] };
    // after an upgrade the modules' views may have changed: asked again
    this.ws.views = upgrading ? await this.api.call('views', {}).catch(() => []) : await listed;
    if (!preview) {
      this.views.clear();
      this.docs.clear();
    }
    this.showRole(role);
    this.showWorkspaceChrome(true);
    await this.refreshStatus();
    traced('status');
    this.lastBackupAt = 0;
    // before the screen is drawn: a banner arriving later would push the screen down under a finger
    traced(await this.refreshStorageFirst() ? 'storage' : 'storage: not read yet, opened without it');
    const early = this.earlySync;
    this.earlySync = null;
    if (early && early.workspace === id) this.showSync(early); // said before this.ws was set
    if (role === 'client') { // the owner tab syncs; ask it (its status also arrives as events)
      this.api.call('sync:status', {}).then((s) => this.showSync(s)).catch((err) => console.warn(err));
    }
    await this.applyQueued();
    traced('queued edits applied');
  }

  /** Cell edits typed while the app was opening (js/opening.js): applied now, in order; refusals said. */
  async applyQueued() {
    let results;
    try {
      results = await this.status.track(this.api.applyQueued());
    } catch (err) {
      this.notify(`Changes typed while opening are kept and will be saved next time: ${err.message}`);
      return;
    }
    this.status.queued = 0;
    this.status.render();
    if (!results.length) return;
    const saved = results.filter((r) => r.saved).length;
    const refused = results.filter((r) => !r.saved);
    const parts = saved ? [`Saved ${saved === 1 ? 'the change' : `the ${saved} changes`} you typed while Openprod was opening.`] : [];
    for (const r of refused) parts.push(`Not saved: ${r.label} (“${r.value ?? ''}”): ${r.error}`);
    this.notify(parts.join(' '));
  }

  /** Newer versions of the workspace's modules (cue numbers that keep "17A"): adopted at once, every
   * value kept; said in a notice. A refusal leaves the workspace as it was. */
  async upgradeModules(info) {
    try {
      const { upgraded } = await this.write('upgrade_modules');
      if (upgraded.length) {
        this.notify(`Updated ${upgraded.join(', ')}: new documents to print and export (contact sheet, call sheet, `
          + 'cue sheets, scene breakdown), and cue numbers keep exactly what you type (17A, 10.10). Nothing you had is changed.');
      }
      return await this.read('info');
    } catch (err) {
      console.warn(err);
      return info;
    }
  }

  showSync(status) {
    if (status && (!this.ws || status.workspace !== this.ws.id)) {
      // the sync engine of a workspace just created says its state before the page has opened it:
      // kept for openWorkspace, so the header shows it from the start (not only after the first edit)
      this.earlySync = status;
      return;
    }
    if (!this.ws || !status) return;
    this.syncStatus = this.ws.role === 'client' ? { ...status, elsewhere: true } : status;
    if (this.isShared() !== Boolean(this.shared)) this.refreshStorage().catch((err) => console.warn(err)); // published now
    this.syncIndicator.show(this.syncStatus, this.ws.id);
    if (this.screen && this.screen.onSync) this.screen.onSync(this.syncStatus);
  }

  /** Tables, modules and the name can arrive by sync (a workspace just joined): re-read them. */
  async refreshInfo() {
    if (!this.ws) return;
    const info = await this.read('info');
    const before = JSON.stringify([this.ws.info.name, this.ws.info.tables.map((t) => t.id)]);
    this.ws.info = info;
    const viewsBefore = JSON.stringify(this.ws.views || []);
    this.ws.views = await this.read('views');
    if (JSON.stringify([info.name, info.tables.map((t) => t.id)]) === before) {
      if (JSON.stringify(this.ws.views) !== viewsBefore) await this.refreshViews(); // a view arrived by sync
      return;
    }
    $('ws-title').textContent = info.name;
    $('ws-title').title = info.name; // the whole name, when the header ends it in "…"
    const parts = location.hash.replace(/^#\/?/, '').split('/');
    if (['sync', 'conflicts', 'staging', 'scripts', 'fields', 'rules'].includes(parts[2])) this.renderSidebar(null, parts[2]);
    else this.route();
  }

  showWorkspaceChrome(on) {
    this.sidebar.hidden = !on;
    $('sidebar-toggle').hidden = !on;
    if (on) this.showSidebar(this.sidebarWanted());
    $('ws-title').textContent = on && this.ws ? this.ws.info.name : '';
    $('ws-title').title = $('ws-title').textContent; // the whole name, when the header ends it in "…"
    document.body.classList.toggle('in-workspace', on);
    $('staging-toggle').hidden = !on;
    if (!on) {
      this.syncIndicator.hide();
      this.syncStatus = null;
      renderBanner($('staging-banner'), { overlay: null }, this);
      this.status.staging = false;
      this.status.render();
    }
  }

  /** Staging mode, conflict count, drift: the banner, the header toggle and the sidebar badges. */
  async refreshStatus() {
    if (!this.ws) return;
    let status;
    try {
      status = await this.read('status');
    } catch (err) {
      console.warn(err);
      return;
    }
    this.wsStatus = status;
    const on = Boolean(status.overlay);
    const toggle = $('staging-toggle');
    toggle.setAttribute('aria-pressed', String(on));
    toggle.title = on ? 'Stop reviewing before saving (your changes to review are set aside: bring them back later)' : 'Review before saving: try edits before they are saved';
    renderBanner($('staging-banner'), status, this);
    this.measureBanners();
    this.status.staging = on;
    this.status.render();
    this.renderSidebarCounts();
    if (this.screen && this.screen.onStatus) this.screen.onStatus(status);
    this.showAwareness(status.awareness || []);
  }

  /** "Bob edited Email of Jane Doe just as you changed Phone": each notice once, while it lasts. */
  showAwareness(notices) {
    this.shownAwareness = this.shownAwareness || new Set();
    const fresh = notices.filter((n) => !this.shownAwareness.has(n.key));
    if (!fresh.length) return;
    for (const n of fresh) this.shownAwareness.add(n.key);
    this.notify(fresh.map((n) => n.text).join(' '));
  }

  async toggleStaging() {
    if (!this.ws) return;
    try {
      if (this.wsStatus && this.wsStatus.overlay) await stashStaging(this);
      else await startStaging(this);
    } catch (err) {
      this.notify(`Review before saving: ${err.message}`);
    }
  }

  // --- the sidebar: collapsible (a portrait tablet starts with it closed); the choice is kept per device

  overlaySidebar() {
    return window.matchMedia('(max-width: 1000px)').matches;
  }

  /** A rotation moves between the two layouts: portrait closes the sidebar (it would cover the screen),
   * landscape brings back what this device chose. */
  watchRotation() {
    window.matchMedia('(max-width: 1000px)').addEventListener('change', () => {
      if (!this.sidebar.hidden) this.showSidebar(this.sidebarWanted());
    });
  }

  sidebarWanted() {
    let saved = null;
    try {
      saved = localStorage.getItem('openprod.sidebar');
    } catch { /* storage unavailable: the default */ }
    if (this.overlaySidebar()) return false; // over the screen: opened on demand, never left covering the grid
    return saved !== 'closed';
  }

  showSidebar(open) {
    document.body.classList.toggle('sidebar-collapsed', !open);
    const toggle = $('sidebar-toggle');
    toggle.setAttribute('aria-expanded', String(open));
    toggle.title = open ? 'Hide the list of tables' : 'Show the list of tables';
  }

  toggleSidebar() {
    const open = document.body.classList.contains('sidebar-collapsed');
    this.showSidebar(open);
    try {
      if (!this.overlaySidebar()) localStorage.setItem('openprod.sidebar', open ? 'open' : 'closed');
    } catch { /* storage unavailable: for this visit only */ }
    if (open) this.sidebar.querySelector('[aria-current="page"], a')?.focus();
  }

  renderSidebarCounts() {
    const status = this.wsStatus;
    const conflicts = this.sidebar.querySelector('[data-count="conflicts"]');
    if (conflicts && status) {
      conflicts.textContent = status.conflicts ? String(status.conflicts) : '';
      conflicts.hidden = !status.conflicts; // the link's name is its text: "Conflicts 3"
    }
    const staging = this.sidebar.querySelector('[data-count="staging"]');
    if (staging && status) {
      const n = status.overlays_waiting + (status.overlay ? 1 : 0);
      staging.textContent = n ? String(n) : '';
      staging.hidden = !n;
      staging.title = `${status.overlay ? 'Review before saving is on' : 'Review before saving is off'}${status.overlays_waiting ? `; ${status.overlays_waiting} set aside or waiting` : ''}`;
    }
  }

  renderSidebar(currentTable, currentPanel = null, currentView = null) {
    const byModule = new Map();
    for (const table of this.ws.info.tables) {
      if (!byModule.has(table.module)) byModule.set(table.module, []);
      byModule.get(table.module).push(table);
    }
    const moduleName = (name) => (this.ws.info.modules.find((m) => m.name === name) || { display_name: name }).display_name;
    const viewLink = (v) => h('li', {}, h('a', {
      href: `#/w/${this.ws.id}/v/${v.id}`, 'aria-current': v.id === currentView ? 'page' : false,
      title: v.description || `${v.name} (${v.table_name})`,
    }, v.name));
    const panel = (name, label) => h('li', {}, h('a', {
      href: `#/w/${this.ws.id}/${name}`, 'aria-current': currentPanel === name ? 'page' : false,
    }, label, h('span', { class: 'count-badge', dataset: { count: name }, hidden: true })));
    mount(this.sidebar,
      h('h2', { class: 'sidebar-title visually-hidden' }, 'Workspace'),
      h('ul', { class: 'panel-links' }, panel('sync', 'Sync'), panel('conflicts', 'Conflicts'), panel('staging', 'Review before saving'),
        panel('call', 'Call the show'), panel('scripts', 'Scripts'),
        panel('fields', 'Shared fields'), panel('rules', 'Rules')),
      h('h2', { class: 'sidebar-title' }, 'Documents'),
      h('ul', { class: 'doc-links' }, (this.ws.views || []).filter((v) => v.module).map(viewLink)),
      h('h2', { class: 'sidebar-title' }, 'Saved views'),
      h('ul', { class: 'doc-links' }, (this.ws.views || []).filter((v) => !v.module).map(viewLink),
        h('li', {}, h('button', { type: 'button', class: 'link-button', onclick: () => this.newView(currentTable) }, 'New view…'))),
      h('h2', { class: 'sidebar-title' }, 'Tables'),
      [...byModule.entries()].sort((a, b) => moduleName(a[0]).localeCompare(moduleName(b[0]))).map(([module, tables]) => h('div', { class: 'module-group' },
        h('h3', {}, moduleName(module)),
        h('ul', {}, tables.map((t) => h('li', {}, h('a', {
          href: `#${this.tableHref(t.id)}`, 'aria-current': t.id === currentTable ? 'page' : false,
        }, t.display_name)))))));
    this.renderSidebarCounts();
  }

  // --- events from the worker -----------------------------------------------------------

  onEvent(type, detail) {
    if (type === 'changed') {
      clearTimeout(this.refreshTimer);
      this.refreshTimer = setTimeout(() => {
        this.refreshStatus();
        if (detail.origin === 'remote') this.refreshInfo().catch((err) => console.warn(err));
        if (this.screen && this.screen.refresh) this.screen.refresh().catch((err) => console.warn(err));
      }, detail.origin === 'this-tab' ? 50 : 10);
    } else if (type === 'sync') {
      this.showSync(detail);
    } else if (type === 'rtc') {
      this.rtc.command(detail);
    } else if (type === 'blobs') { // attachment transfers moved on: the file controls update themselves
      window.dispatchEvent(new CustomEvent('openprod-blobs', { detail }));
    } else if (type === 'progress') {
      if (this.progressListener) this.progressListener(detail);
    } else if (type === 'role') {
      if (this.ws) this.ws.role = detail.role;
      this.showRole(detail.role);
      if (detail.takeover) this.notify('The other tab closed; this tab now keeps the workspace.');
    } else if (type === 'identity') {
      this.identity = { ...(this.identity || {}), display_name: detail.display_name };
      this.showIdentity();
    } else if (type === 'error') {
      this.notify(detail.message);
    }
  }

  showRole(role) {
    $('role-status').textContent = role === 'client'
      ? 'Open in another tab too: changes here are saved through that tab.' : '';
  }

  showIdentity() {
    const button = $('identity-button');
    button.hidden = !this.identity;
    if (this.identity) {
      button.textContent = this.identity.display_name;
      button.setAttribute('aria-label', `You are ${this.identity.display_name}. Change display name`);
    }
  }

  openIdentityDialog() {
    const dialog = h('dialog', { class: 'identity-dialog', 'aria-label': 'Your display name' });
    dialog.append(identityForm({
      app: this, current: this.identity.display_name, heading: 'Your display name',
      onSaved: (identity) => {
        this.identity = identity;
        this.showIdentity();
        dialog.close();
      },
    }), h('form', { method: 'dialog' }, h('button', { type: 'submit' }, 'Cancel')));
    dialog.addEventListener('close', () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  }

  // --- device status ----------------------------------------------------------------------

  /** The footer's storage line and, in a workspace, the banner when the browser may delete data soon. */
  async refreshStorage(asked = this.persistAsked) {
    this.persistAsked = asked;
    const risk = await storageRisk();
    this.storageRisk = risk;
    renderStorageLine($('storage-status'), this, { risk, asked });
    const banner = $('storage-banner');
    const wasHidden = banner.hidden;
    if (this.ws) {
      // from storage, not the worker: it may be busy starting Python
      const entry = (await readWorkspaceEntry(this.ws.id)) || {};
      this.shared = await readShared(this.ws.id);
      this.lastBackupAt = Math.max(this.lastBackupAt || 0, entry.backupAt || 0);
      renderStorageBanner(banner, this, { risk, shared: this.shared, backupAt: this.lastBackupAt });
    } else {
      banner.hidden = true;
      mount(banner);
    }
    if (banner.hidden !== wasHidden) this.fit();
  }

  /** refreshStorage before a screen is drawn, waited on for STORAGE_WAIT_MS at most (then the banner comes
   * late): the reads wait behind any other transaction on the workspace's `sync` store, and after a tab
   * closed mid catch-up its storage answered no read for minutes (Chromium, docs/web.md). Resolves to
   * whether it was read in time. */
  refreshStorageFirst() {
    const read = this.refreshStorage().then(() => true, (err) => {
      console.warn(err);
      return true;
    });
    return Promise.race([read, new Promise((resolve) => { setTimeout(() => resolve(false), STORAGE_WAIT_MS); })]);
  }

  /** The banners under the header take room from the screen, so the page stays one screen high (nothing
   * to scroll, the footer below the fold) with or without them. */
  measureBanners() {
    const room = ['update-banner', 'staging-banner', 'storage-banner']
      .reduce((sum, id) => sum + ($(id).hidden ? 0 : $(id).offsetHeight), 0);
    document.body.style.setProperty('--banners', `${room}px`);
  }

  /** Published or joined: a copy of the shared changes also lives on the relay. */
  isShared() {
    return Boolean(this.syncStatus && this.syncStatus.state !== 'local');
  }

  /** A banner came or went: the screen (the grid) fits itself to the room left. */
  fit() {
    this.measureBanners();
    this.routing.then(() => { // a screen still being drawn measures its room when it is done
      if (this.screen && this.screen.onStatus && this.wsStatus) this.screen.onStatus(this.wsStatus);
    });
  }

  requestPersistence() {
    if (!navigator.storage || !navigator.storage.persist) return;
    navigator.storage.persist().catch(() => false).then(() => this.refreshStorage(true));
  }

  async registerServiceWorker() {
    const el = $('offline-status');
    if (!('serviceWorker' in navigator)) {
      el.textContent = 'This browser cannot keep the app for offline use';
      return;
    }
    const registration = await navigator.serviceWorker.register('./sw.js');
    const showUpdate = () => {
      if (!registration.waiting || !navigator.serviceWorker.controller) return;
      mount($('update-banner'), 'A new version of Openprod is ready. ',
        h('button', {
          type: 'button', class: 'small', onclick: () => {
            this.reloadOnUpdate = true;
            registration.waiting.postMessage({ type: 'skip-waiting' });
          },
        }, 'Reload to update'));
      $('update-banner').hidden = false;
    };
    registration.addEventListener('updatefound', () => {
      const installing = registration.installing;
      if (installing) installing.addEventListener('statechange', showUpdate);
    });
    navigator.serviceWorker.addEventListener('controllerchange', () => {
      if (this.reloadOnUpdate) location.reload();
    });
    showUpdate();
    await navigator.serviceWorker.ready;
    el.dataset.offline = 'ready';
    el.textContent = 'Ready to work offline';
  }
}

/** `afterScreen`: run once the last screen is drawn (main.js: the workspace's early read). */
export async function start(worker, kept = null, afterScreen = null) {
  watchInstall();
  const api = Comlink.wrap(worker);
  const app = new App(api);
  window.openprod = { api, app }; // for diagnostics in the console and for the browser tests
  // Not awaited: these wait for the worker's modules to load, and the opening screen needs no worker.
  // Messages keep their order, so the worker knows both before it opens a workspace.
  const told = Promise.all([
    api.subscribe(Comlink.proxy((type, detail) => app.onEvent(type, detail))),
    // WebKitGTK (and any browser built without WebRTC) syncs through the relay's WebSocket only.
    api.setCapabilities({ rtc: typeof RTCPeerConnection !== 'undefined' }),
  ]);
  const engine = $('engine-status');
  engine.textContent = 'Starting the engine…';
  api.boot().then((timings) => {
    engine.textContent = '';
    engine.dataset.bootMs = String(timings.bootMs);
  }).catch((err) => { engine.textContent = `The engine did not start: ${err.message}`; });
  // A workspace's address: its opening starts now, watched (the kept screen's read waits on storage too)
  const named = /^#\/w\/([^/]+)/.exec(location.hash);
  let stopWatch = () => {};
  try {
    if (named) stopWatch = watchOpening(app, decodeURIComponent(named[1]));
  } catch { /* a malformed address: the route says what is wrong */ }
  try {
    // the last grid, from this browser's storage, while Python starts (js/opening.js): no worker call before it
    await showOpening(app, kept).catch((err) => console.warn('[opening]', err));
    if (afterScreen) afterScreen();
    await told;
    app.identity = await api.identity();
  } finally {
    stopWatch();
  }
  app.showIdentity();
  $('identity-button').addEventListener('click', () => app.openIdentityDialog());
  $('staging-toggle').addEventListener('click', () => app.toggleStaging());
  $('sidebar-toggle').addEventListener('click', () => app.toggleSidebar());
  app.watchRotation();
  // Over the screen (portrait): choosing a table closes the sidebar again, and Escape does.
  $('sidebar').addEventListener('click', (event) => {
    if (event.target.closest('a') && app.overlaySidebar()) app.showSidebar(false);
  });
  $('sidebar').addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && app.overlaySidebar()) {
      app.showSidebar(false);
      $('sidebar-toggle').focus();
    }
  });
  window.addEventListener('hashchange', (event) => {
    // no hash -> "#/" (the Openprod link on the start screen) is the same screen: keep what is typed
    if (isStart(event.oldURL) && isStart(event.newURL) && app.screen) return;
    app.route();
  });
  document.addEventListener('keydown', (event) => app.onGlobalKey(event));
  window.addEventListener('offline', () => api.networkChanged(false));
  window.addEventListener('online', () => api.networkChanged(true));
  app.refreshStorage(false).catch((err) => console.warn(err));
  app.registerServiceWorker().catch((err) => {
    $('offline-status').textContent = `Offline use unavailable: ${err.message}`;
  });
  await app.route();
  document.body.dataset.ready = 'true';
  performance.mark('openprod-interactive'); // the first screen is drawn and answers input (bench/browser_bench.py)
  // Python's start snapshot, made if this start had none, written now that opening is done (worker/python.js).
  api.keepStartSnapshot().catch((err) => console.warn('[python] start snapshot not kept:', err.message));
}
