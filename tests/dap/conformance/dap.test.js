// VS Code's DebugClient (@vscode/debugadapter-testsupport) against `python -m executive dap`.
// Run with `make dap-conformance` (installs the package here, then `node --test`).
// PYTHON names the interpreter (default python3); EXECUTIVE_HOME the daemon's home: with no daemon
// running there, each adapter starts one for its session and stops it afterwards.
'use strict';

const { test } = require('node:test');
const assert = require('node:assert');
const cp = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { DebugClient } = require('@vscode/debugadapter-testsupport');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const PYTHON = process.env.PYTHON || 'python3';
const HOME = process.env.EXECUTIVE_HOME || fs.mkdtempSync(path.join(os.tmpdir(), 'executive-dap-conformance-'));

function lineOf(file, prefix) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  return lines.findIndex((l) => l.startsWith(prefix)) + 1;
}

async function withClient(fn) {
  const env = { ...process.env, EXECUTIVE_HOME: HOME, PYTHONPATH: path.join(ROOT, 'src') };
  const proc = cp.spawn(PYTHON, ['-m', 'executive', 'dap'], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const dc = new DebugClient(PYTHON, '', 'hsx');
  dc.defaultTimeout = 20000;
  dc.connect(proc.stdout, proc.stdin);
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  try {
    await fn(dc);
  } finally {
    await dc.disconnectRequest({ terminateDebuggee: true }).catch(() => {});
    // the adapter ends by itself after disconnect (stopping a daemon it started); SIGTERM if it hangs
    const timer = setTimeout(() => proc.kill('SIGTERM'), 10000);
    await exited;
    clearTimeout(timer);
  }
}

test('hits a breakpoint by source line and shows where', async () => {
  const program = path.join(ROOT, 'examples', 'fact.mvasm');
  const line = lineOf(program, 'fact_done:') + 1;
  await withClient(async (dc) => {
    await dc.hitBreakpoint({ program }, { path: program, line });
    const frames = (await dc.stackTraceRequest({ threadId: (await dc.threadsRequest()).body.threads[0].id })).body.stackFrames;
    assert.ok(frames.length >= 2);
    assert.strictEqual(frames[0].name, 'fact');
  });
});

test('program output arrives and the session terminates', async () => {
  const program = path.join(ROOT, 'examples', 'hello.mvasm');
  await withClient(async (dc) => {
    await Promise.all([
      dc.configurationSequence(),
      dc.launch({ program }),
      dc.assertOutput('stdout', 'Hello from HSX'),
      dc.waitForEvent('terminated'),
    ]);
  });
});

test('stops on entry and steps by line', async () => {
  const program = path.join(ROOT, 'examples', 'fact.mvasm');
  await withClient(async (dc) => {
    await Promise.all([
      dc.configurationSequence(),
      dc.launch({ program, stopOnEntry: true }),
      dc.assertStoppedLocation('entry', { path: program, line: lineOf(program, 'main:') + 1 }),
    ]);
    const threadId = (await dc.threadsRequest()).body.threads[0].id;
    await Promise.all([dc.nextRequest({ threadId }), dc.assertStoppedLocation('step', { line: lineOf(program, 'main:') + 2 })]);
  });
});

test('debugs two programs as two threads', async () => {
  const pong = path.join(ROOT, 'examples', 'pong.mvasm');
  const ping = path.join(ROOT, 'examples', 'ping.mvasm');
  const line = lineOf(pong, '    MOV R2, R1');
  await withClient(async (dc) => {
    const [stopped] = await Promise.all([
      dc.waitForEvent('stopped'),
      dc.hitBreakpoint({ programs: [pong, ping] }, { path: pong, line }),
    ]);
    const threads = (await dc.threadsRequest()).body.threads;
    assert.deepStrictEqual(threads.map((t) => t.name.split(' ')[0]), ['pong', 'ping']);
    assert.strictEqual(stopped.body.threadId, threads[0].id);
    assert.strictEqual(stopped.body.allThreadsStopped, false);
  });
});
