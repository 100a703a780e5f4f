// Lighthouse configuration for scripts/lighthouse: the default (mobile) or desktop preset, our three
// categories, and a pause after load long enough for the worker to boot Pyodide and render the
// screen (Lighthouse otherwise stops at "Opening the workspace…", before the screen it should audit).
import desktop from 'lighthouse/core/config/desktop-config.js';

const preset = process.env.OPENPROD_LH_PRESET || 'mobile';
const base = preset === 'desktop' ? desktop : { extends: 'lighthouse:default' };

export default {
  ...base,
  settings: {
    ...(base.settings || {}),
    onlyCategories: ['performance', 'accessibility', 'best-practices'],
    pauseAfterLoadMs: Number(process.env.OPENPROD_LH_PAUSE_MS || 10000),
  },
};
