#!/usr/bin/env node
// The `veilsum` command as npm links it: checks the node it was started on, then runs
// cli/veilsum.ts (which an older node could not even load).
import { nodeVersionProblem } from './node-version.js';

const problem = nodeVersionProblem(process.version);
if (problem === undefined) await import('./veilsum.ts');
else {
  console.error(problem);
  process.exitCode = 1;
}
