#!/usr/bin/env node
// The kubectl plugin entry (`kubectl ironlb …` when on PATH, `npx kubectl-ironlb …` in the repo).
// A committed shim, so `npm ci` can link the bin before the TypeScript is built.
import '../dist/main.js';
