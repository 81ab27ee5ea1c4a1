/** `btagent download` / `seed` argument handling: exit 2 and a message naming the argument. */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  STANDALONE,
  exitCode,
  makeTorrent,
  ours,
  randomFile,
  removeTemps,
  tmp,
} from './torrent/helpers.js';

let torrent: string;
let dir: string;
beforeAll(async () => {
  if (!existsSync(STANDALONE)) throw new Error('dist/ is missing: run `npm run build` first');
  dir = tmp();
  torrent = (await makeTorrent(randomFile(dir, 'x.bin', 1000), 16384, join(dir, 'x.torrent'))).path;
});
afterAll(() => removeTemps());

async function run(args: string[]): Promise<{ code: number | string; output: string }> {
  const p = ours(args);
  const code = await exitCode(p, 20_000);
  return { code, output: p.output };
}

it.each([
  [['download', 'TORRENT', '--out', 'OUT', '--peer', 'nonsense'], '--peer'],
  [['download', 'TORRENT', '--out', 'OUT', '--no-tracker'], '--peer'],
  [['download', 'TORRENT', '--out', 'OUT', '--peer', '127.0.0.1:1', '--listen', 'x'], '--listen'],
  [['download', 'MISSING', '--out', 'OUT', '--peer', '127.0.0.1:1'], '<file.torrent>'],
  [['download', 'BAD', '--out', 'OUT', '--peer', '127.0.0.1:1'], 'info'],
  [['download', 'TORRENT'], '--out'],
  [['seed', 'TORRENT', '--data', 'MISSING'], '--data'],
])('%j exits 2 naming %s', async (args, name) => {
  const bad = join(dir, 'bad.torrent');
  writeFileSync(bad, 'd4:infod4:name1:xee');
  const subst = args.map((a) =>
    a === 'TORRENT'
      ? torrent
      : a === 'OUT'
        ? join(dir, 'out')
        : a === 'MISSING'
          ? join(dir, 'missing')
          : a === 'BAD'
            ? bad
            : a,
  );
  const r = await run(subst);
  expect(r.code).toBe(2);
  expect(r.output).toContain(name);
});
