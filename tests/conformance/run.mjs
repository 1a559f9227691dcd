// The Parley protocol conformance kit: `scripts/conformance URL [options]`
// (docs/conformance.md). Exit status: 0 when every case passed (skips
// allowed unless --no-skip), 1 when a case failed, 2 for a usage error.
import { listCases, runCases, summaryLine } from './lib/runner.mjs';
import { sections } from './sections/index.mjs';

const MiB = 1024 * 1024;

// Every option, its environment variable (CONFORMANCE_ + the name in upper
// snake case) and default. The server's limits default to PROTOCOL.md's.
const OPTIONS = [
  ['stop-command', 'string', '', 'shell command that stops the server (runs the 1001 case, last); without it that case is skipped'],
  ['protocol', 'string', '1.0', 'the protocol version the server claims: runs the sections of that version and older'],
  ['only', 'string', '', 'run only the cases whose id matches this regular expression'],
  ['jobs', 'int', 4, 'cases run at once (the floods always run alone)'],
  ['timeout-ms', 'int', 5000, 'how long to wait for an answer or event the server owes'],
  ['case-timeout-ms', 'int', 120000, 'how long one case may take in all'],
  ['hello-timeout-ms', 'int', 10000, 'the server closes with 4001 this long after opening without hello'],
  ['resume-limit', 'int', 1000, 'messages replayed per conversation on hello (resume_limit)'],
  ['send-rate', 'int', 50, 'sends per second per user, sustained'],
  ['send-burst', 'int', 500, 'burst of sends per user'],
  ['abuse-factor', 'int', 10, 'the factor over the send rate that closes with 4008'],
  ['max-frame-bytes', 'int', 65536, 'the largest frame (bigger: 1009)'],
  ['max-body-bytes', 'int', 4096, 'the largest message body (bigger: too_large)'],
  ['max-queue-bytes', 'int', 4 * MiB, 'the outbound queue bound per connection (over: 4009)'],
  ['flood-bytes', 'int', 0, 'bytes of messages the 4009 case sends at its slow reader (0: 3 x max-queue-bytes + 16 MiB)'],
  ['typing-interval-ms', 'int', 3000, 'least time between two typing events per user and conversation'],
  ['no-skip', 'flag', false, 'count a skipped case as failed'],
  ['verbose', 'flag', false, 'under a failed case, print each of its connections: state and last frames'],
  ['list', 'flag', false, 'list the cases and exit', 'no env'],
  ['help', 'flag', false, 'this help', 'no env'],
];

const camel = (name) => name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
const envName = (name) => `CONFORMANCE_${name.replace(/-/g, '_').toUpperCase()}`;

function usage() {
  const lines = ['usage: scripts/conformance URL [options]', '', 'URL is the server\'s HTTP origin, e.g. http://127.0.0.1:8080 (https:// for TLS).', '', 'options (each also as an environment variable):'];
  for (const [name, type, def, help, noEnv] of OPTIONS) {
    const arg = type === 'flag' ? '' : type === 'int' ? ' N' : ' TEXT';
    lines.push(`  --${name}${arg}`.padEnd(30) + `${help}${type !== 'flag' && def !== '' ? ` (default ${def})` : ''}`);
    if (!noEnv) lines.push(`${''.padEnd(30)}[${envName(name)}]`);
  }
  lines.push('', 'The URL may also come from CONFORMANCE_URL.');
  return lines.join('\n');
}

function parse(argv, env) {
  const opts = {};
  const byName = new Map(OPTIONS.map((o) => [o[0], o]));
  const setValue = (name, raw, source) => {
    const [, type] = byName.get(name);
    if (type === 'int') {
      if (!/^[0-9]+$/.test(raw)) throw new Error(`${source}: expected a non-negative integer, got "${raw}"`);
      opts[camel(name)] = Number(raw);
    } else if (type === 'flag') {
      if (!['1', 'true', 'yes', '0', 'false', 'no', ''].includes(raw)) throw new Error(`${source}: expected 1 or 0, got "${raw}"`);
      opts[camel(name)] = ['1', 'true', 'yes'].includes(raw);
    } else opts[camel(name)] = raw;
  };
  for (const [name, , def, , noEnv] of OPTIONS) {
    opts[camel(name)] = def;
    const e = noEnv ? undefined : env[envName(name)];
    if (e !== undefined) setValue(name, e, envName(name));
  }
  const positional = [];
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    let [name, value] = a.slice(2).split(/=(.*)/s, 2);
    const o = byName.get(name);
    if (!o) throw new Error(`unknown option --${name}`);
    if (o[1] === 'flag') {
      if (value !== undefined) throw new Error(`--${name} takes no value`);
      opts[camel(name)] = true;
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new Error(`--${name} needs a value`);
      value = argv[++i];
    }
    setValue(name, value, `--${name}`);
  }
  if (positional.length > 1) throw new Error(`one URL expected, got ${positional.join(' ')}`);
  opts.url = positional[0] ?? env.CONFORMANCE_URL ?? '';
  if (!opts.floodBytes) opts.floodBytes = 3 * opts.maxQueueBytes + 16 * MiB;
  return opts;
}

function serverUrls(url) {
  let u;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`not a URL: "${url}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`the URL must be http:// or https://, got "${url}"`);
  const base = `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, '')}`;
  return { baseUrl: base, wsUrl: `${u.protocol === 'https:' ? 'wss' : 'ws'}://${u.host}${u.pathname.replace(/\/+$/, '')}/v1/ws` };
}

function versionOf(v) {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  if (!m) throw new Error(`--protocol: expected a version like 1.0, got "${v}"`);
  return Number(m[1]) * 1000 + Number(m[2]);
}

async function main() {
  let opts;
  let urls;
  let cases;
  try {
    opts = parse(process.argv.slice(2), process.env);
    if (opts.help) {
      console.log(usage());
      return 0;
    }
    const version = versionOf(opts.protocol);
    const chosen = sections.filter((s) => versionOf(s.protocol) <= version);
    cases = listCases(chosen);
    if (opts.only) {
      const re = new RegExp(opts.only);
      cases = cases.filter((c) => re.test(c.id));
    }
    if (opts.list) {
      for (const c of cases) console.log(`${c.id}  ${c.title}`);
      return 0;
    }
    if (!opts.url) throw new Error('the server URL is missing');
    urls = serverUrls(opts.url);
    if (!cases.length) throw new Error(`no case matches --only ${opts.only}`);
  } catch (e) {
    console.error(`conformance: ${e.message}\n\n${usage()}`);
    return 2;
  }
  const run = { ...urls, options: opts };
  console.log(`conformance: ${cases.length} case${cases.length === 1 ? '' : 's'} of protocol ${opts.protocol} against ${urls.baseUrl}`);
  const totals = await runCases(cases, run, (line) => console.log(line));
  console.log(summaryLine(totals));
  return totals.failed ? 1 : 0;
}

process.exitCode = await main();
// Sockets a failed case left half-open must not keep the process alive.
setTimeout(() => process.exit(process.exitCode), 200).unref();
