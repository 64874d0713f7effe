import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * Reading the README's code blocks by heading (so the tests follow a section when the README
 * moves into docs/) and running shell scripts built from them: shared by the tests that run the
 * README's flows as written (test/e2e/readme-*.test.ts).
 */

/** The texts under each `## heading` (up to the next `## `), in order. */
export function sectionsOf(markdown: string, heading: string): string[] {
  const lines = markdown.split('\n');
  const sections: string[] = [];
  lines.forEach((line, start) => {
    if (line.trim() !== `## ${heading}`) return;
    const end = lines.findIndex((next, i) => i > start && next.startsWith('## '));
    sections.push(lines.slice(start + 1, end < 0 ? undefined : end).join('\n'));
  });
  if (sections.length === 0) throw new Error(`no "## ${heading}" section in the README`);
  return sections;
}

/** The first ```<language> block under the heading (a heading may repeat: the first that has one). */
export function codeBlockUnder(markdown: string, heading: string, language: string): string {
  for (const section of sectionsOf(markdown, heading)) {
    const match = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(section);
    if (match !== null) return match[1]!;
  }
  throw new Error(`no \`\`\`${language} block under "## ${heading}" in the README`);
}

/** The first ```sh block under the heading. */
export function shellBlockUnder(markdown: string, heading: string): string {
  return codeBlockUnder(markdown, heading, 'sh');
}

/** One logical command per entry: continuation lines (ending in `\`) joined. */
export function logicalLines(block: string): string[] {
  return block.replace(/\\\n\s*/g, ' ').split('\n');
}

/** A port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Runs a script with bash in `cwd`; resolves with its exit code and stdout+stderr interleaved. */
export function bash(
  script: string,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}
