// Runs the cases of the selected sections against one server and prints one
// line per case, in the order the sections list them, then the summary
// line. Cases run a few at a time (--jobs); a case marked `exclusive` runs
// alone (the floods, whose timing others would disturb), and a case marked
// `last` runs after every other one (it stops the server).
import { randomBytes } from 'node:crypto';
import { CheckFailed } from './check.mjs';
import { Context } from './client.mjs';

/** Thrown by a case that cannot run here (a missing option); it is printed and counted. */
export class Skip extends Error {
  constructor(message) {
    super(message);
    this.name = 'Skip';
  }
}

/** The cases of `sections`, each with its full id `<section>.<case>`. */
export function listCases(sections) {
  const out = [];
  for (const s of sections) {
    for (const c of s.cases) out.push({ ...c, id: `${s.key}.${c.key}`, section: s });
  }
  return out;
}

function seconds(ms) {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

async function runOne(run, c) {
  const ctx = new Context(run, c.id);
  const started = Date.now();
  let status = 'PASS';
  let reason = '';
  let connections = [];
  let timer;
  const limit = (typeof c.timeoutMs === 'function' ? c.timeoutMs(run.options) : c.timeoutMs) ?? run.options.caseTimeoutMs;
  try {
    await Promise.race([
      c.run(ctx),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new CheckFailed(`the case did not finish within ${seconds(limit)}`)), limit);
      }),
    ]);
  } catch (e) {
    if (e instanceof Skip) {
      status = run.options.noSkip ? 'FAIL' : 'SKIP';
      reason = run.options.noSkip ? `skipped, and --no-skip is set: ${e.message}` : e.message;
    } else {
      status = 'FAIL';
      reason = e instanceof CheckFailed ? e.message : `kit error: ${e.stack ?? e}`;
      connections = ctx.describe();
    }
  } finally {
    clearTimeout(timer);
    await ctx.dispose();
  }
  const took = Date.now() - started;
  const notes = ctx.notes.length ? `; ${ctx.notes.join('; ')}` : '';
  let line = `${status}  ${c.id}  ${c.title}`;
  if (status === 'PASS') line += `  [${seconds(took)}${notes}]`;
  else line += `: ${reason.split('\n')[0]}`;
  const detail = [];
  if (status === 'FAIL') {
    detail.push(...reason.split('\n').slice(1));
    detail.push(...connections);
  }
  return { status, line, detail };
}

/**
 * Runs `cases` against the server described by `run` ({baseUrl, wsUrl,
 * options}); `print` gets each output line. Returns {passed, failed, skipped}.
 */
export async function runCases(cases, run, print) {
  run.prefix ??= `cf${randomBytes(4).toString('hex').slice(0, 6)}`;
  run.counter ??= 0;
  const results = new Array(cases.length);
  let printed = 0;
  const flush = () => {
    while (printed < cases.length && results[printed]) {
      const r = results[printed];
      print(r.line);
      if (run.options.verbose) for (const d of r.detail) print(`      ${d}`);
      printed += 1;
    }
  };

  // A small scheduler: `jobs` at once; exclusive cases alone; `last` ones at the end.
  const normal = cases.map((c, i) => ({ c, i })).filter((x) => !x.c.last);
  const last = cases.map((c, i) => ({ c, i })).filter((x) => x.c.last);
  const running = new Set();
  let exclusiveRunning = false;
  const start = (x) => {
    const p = runOne(run, x.c).then((r) => {
      results[x.i] = r;
      running.delete(p);
      if (x.c.exclusive) exclusiveRunning = false;
      flush();
    });
    if (x.c.exclusive) exclusiveRunning = true;
    running.add(p);
  };
  const jobs = Math.max(1, run.options.jobs);
  for (const x of normal) {
    if (x.c.exclusive) {
      while (running.size) await Promise.race(running);
    } else {
      while (exclusiveRunning || running.size >= jobs) await Promise.race(running);
    }
    start(x);
  }
  while (running.size) await Promise.race(running);
  for (const x of last) {
    start(x);
    while (running.size) await Promise.race(running);
  }
  flush();
  const count = (s) => results.filter((r) => r.status === s).length;
  return { passed: count('PASS'), failed: count('FAIL'), skipped: count('SKIP') };
}

/** The last line: `N passed, N failed`, and `, N skipped` when some were. */
export function summaryLine({ passed, failed, skipped }) {
  return `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`;
}
