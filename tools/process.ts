/**
 * Child processes for the benchmarks and the local cluster launcher: start a node
 * script that logs a JSON `listening` line (as btagent does), and stop it politely.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A started child and the address from its `listening` line. */
export interface ListeningChild {
  readonly child: ChildProcess;
  /** "host:port" as the child logged it. */
  readonly addr: string;
  readonly port: number;
}

/**
 * Runs `node argv…` and resolves once it logs `{"msg":"listening","addr":…}` on stdout
 * (btagent logs it at level info); rejects if it exits first. stderr is inherited.
 */
export function startListening(
  argv: string[],
  env: Record<string, string> = {},
): Promise<ListeningChild> {
  const child = spawn(process.execPath, argv, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const l = JSON.parse(line) as { msg?: string; addr?: string };
        if (l.msg === 'listening' && l.addr !== undefined) {
          resolve({ child, addr: l.addr, port: Number(l.addr.split(':').pop()) });
        }
      } catch {
        // not JSON
      }
    });
    child.once('exit', (c) => reject(new Error(`process exited with ${c}`)));
  });
}

/** SIGTERM, then SIGKILL if it has not exited within `graceMs`; resolves once it has. */
export function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
