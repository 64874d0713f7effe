import { nodeVersionProblem } from './node-version.js';

// Imported first by cli/veilsum.ts: a node that can load TypeScript but is older than the one
// veilsum is built and tested on stops here, saying how to run on the project's Node 24.
const problem = nodeVersionProblem(process.version);
if (problem !== undefined) {
  console.error(problem);
  process.exit(1);
}
