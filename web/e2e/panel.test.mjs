// `node --test e2e/` only picks files named like *.test.mjs; this one brings in panel.e2e.mjs
// (which can also be run on its own: node --test e2e/panel.e2e.mjs).
import './panel.e2e.mjs';
