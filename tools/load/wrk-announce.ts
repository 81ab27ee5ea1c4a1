import { spawn } from 'node:child_process';

/**
 * A deterministic wrk announce load (wrk embeds LuaJIT, i.e. Lua 5.1): thread t's
 * n-th request announces torrent `torrents[n mod T]` from the port
 * `wrkPort(t, n, T)` (the provider is the caller's address with it), so a test
 * can name every provider that was announced and check each one on every agent.
 * (Not the `ip` parameter: announces carrying it take the tracker's slow path,
 * about 10× slower.) Up to 50 000 announces per thread and 9 threads. Each thread stops after `perThread` announces (0 = run for the whole
 * duration); wrk prints one line per thread: "thread T sent N failed F".
 */

/** The port of thread `tid`'s n-th announce (n from 1): unique per torrent. */
export function wrkPort(tid: number, n: number, torrents: number): number {
  return 1024 + tid * 6000 + Math.floor(n / torrents);
}

/** The torrent (index into the list) of the n-th announce of any thread. */
export function wrkTorrent(n: number, torrents: number): number {
  return n % torrents;
}

/** The Lua script for `torrents` (40 hex digits each). */
export function wrkAnnounceScript(torrents: readonly string[], perThread: number): string {
  // Ports of one thread must not run into the next thread's (6000 per thread).
  if (perThread / torrents.length >= 6000) throw new RangeError('too many announces per thread');
  const list = torrents.map((h) => `"${h.replace(/(..)/g, '%$1').toUpperCase()}"`).join(',\n  ');
  return `
local torrents = {
  ${list}
}
local threads = {}
local nextId = 1
setup = function(thread)
  thread:set("tid", nextId)
  table.insert(threads, thread)
  nextId = nextId + 1
end
init = function(args)
  n = 0
  failures = 0
  answered = 0
end
request = function()
  n = n + 1
  local t = torrents[(n % #torrents) + 1]
  local path = "/announce?info_hash=" .. t ..
    "&peer_id=-WK0001-" .. string.format("%02d%010d", tid, n) ..
    "&port=" .. (1024 + tid * 6000 + math.floor(n / #torrents)) ..
    "&uploaded=0&downloaded=0&left=0&compact=1&numwant=1"
  return wrk.format("GET", path)
end
response = function(status, headers, body)
  answered = answered + 1
  if status ~= 200 or string.find(body, "failure reason", 1, true) then
    failures = failures + 1
  end
  if ${perThread} > 0 and answered >= ${perThread} then wrk.thread:stop() end
end
done = function(summary, latency, requests)
  for _, t in ipairs(threads) do
    io.write(string.format("thread %d sent %d failed %d\\n", t:get("tid"), t:get("n"), t:get("failures")))
  end
end
`;
}

/** What one wrk run reported. */
export interface WrkResult {
  /** Per thread id (1-based): requests issued and failure replies. */
  threads: { tid: number; sent: number; failed: number }[];
  requestsPerSec: number;
  stdout: string;
}

/**
 * Runs wrk (asynchronously: the caller's event loop keeps running) against
 * `url` with `script`, pinned with taskset to `cpu` when given.
 */
export function runWrk(
  url: string,
  script: string,
  opts: { threads: number; connections: number; seconds: number; cpu?: number },
): Promise<WrkResult> {
  const wrkArgs = [
    `-t${opts.threads}`,
    `-c${opts.connections}`,
    `-d${opts.seconds}s`,
    '-s',
    script,
    url,
  ];
  const [cmd, args] =
    opts.cpu === undefined
      ? ['wrk', wrkArgs]
      : ['taskset', ['-c', String(opts.cpu), 'wrk', ...wrkArgs]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err) => reject(new Error(`wrk: ${err.message} (apt-get install wrk)`)));
    child.once('exit', () => {
      if (/\.lua:\d+:/.test(stdout + stderr)) {
        reject(new Error(`wrk script error:\n${stdout}${stderr}`));
        return;
      }
      const threads = [...stdout.matchAll(/^thread (\d+) sent (\d+) failed (\d+)$/gm)].map((m) => ({
        tid: Number(m[1]),
        sent: Number(m[2]),
        failed: Number(m[3]),
      }));
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
      if (threads.length === 0 || rps === null) {
        reject(new Error(`wrk output not understood:\n${stdout}\n${stderr}`));
        return;
      }
      resolve({ threads, requestsPerSec: Number(rps[1]), stdout });
    });
  });
}
