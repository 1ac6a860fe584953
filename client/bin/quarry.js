#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so a fresh `npm ci` gives a working `npx quarry` with no build step.
require('tsx/cjs');
require('../src/cli/main.ts').run();
