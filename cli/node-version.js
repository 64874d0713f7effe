// veilsum runs on Node 24, which `npm ci` installs into the checkout (the `node` devDependency,
// node_modules/.bin/node); the machine's own node (20 here) need only run npm. Plain JavaScript,
// so that an older node reaches this check instead of failing on a .ts file.

export const REQUIRED_NODE_MAJOR = 24;

/** What to tell a person who started veilsum on `version` (process.version), or undefined. */
export function nodeVersionProblem(version) {
  const running = version.replace(/^v/, '');
  const major = Number(running.split('.')[0]);
  if (major >= REQUIRED_NODE_MAJOR) return undefined;
  return (
    `veilsum needs Node ${REQUIRED_NODE_MAJOR} and this is Node ${running}. ` +
    `\`npm ci\` installs Node ${REQUIRED_NODE_MAJOR} into the checkout; run veilsum on it from inside the checkout with ` +
    '`npm exec -- veilsum <command>`, or set V="$(npm prefix)/node_modules/.bin/node $(npm prefix)/cli/veilsum.ts" ' +
    'there once and run `$V <command>` from any folder.'
  );
}
