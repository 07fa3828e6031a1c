#!/usr/bin/env node
// The `mycel` command. Runs the compiled CLI (npm run build:node produces it).
import '../dist/node/src/node/cli.js';
