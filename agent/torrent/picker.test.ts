import { Bitfield } from './bitfield.js';
import { BLOCK_SIZE } from './layout.js';
import { PiecePicker, Received, type PickerPeer } from './picker.js';

const seq = (): (() => number) => {
  let x = 0.123;
  return () => (x = (x * 9301 + 0.49297) % 1);
};

function peer(
  id: number,
  has: (i: number) => boolean = () => true,
): PickerPeer & { out: Set<string> } {
  const out = new Set<string>();
  return { id, has, requested: (p, b) => out.has(`${p}:${b}`), out };
}

function make(
  pieceCount: number,
  pieceLength = 2 * BLOCK_SIZE,
  o: Partial<ConstructorParameters<typeof PiecePicker>[0]> = {},
): PiecePicker {
  return new PiecePicker({
    pieceCount,
    pieceLength,
    totalLength: pieceCount * pieceLength,
    random: seq(),
    ...o,
  });
}

describe('PiecePicker', () => {
  it('picks rarest pieces first once the random first pieces are done', () => {
    const pk = make(10, 2 * BLOCK_SIZE, { randomFirst: 0 });
    const common = new Bitfield(10);
    common.setAll();
    pk.addBitfield(common);
    pk.addBitfield(common);
    const rare = new Bitfield(10);
    rare.set(7);
    rare.setAll();
    pk.addBitfield(rare);
    // availability: all 3 except nothing rarer... make piece 4 rare by removing a have
    pk.removeHave(4);
    pk.removeHave(4);
    const got = pk.pick(peer(1), 2);
    expect(got.map((b) => b.piece)).toEqual([4, 4]);
  });

  it('keeps a peer on its own pieces, one sender per piece', () => {
    const pk = make(4, 4 * BLOCK_SIZE);
    const a = pk.pick(peer(1), 4);
    const b = pk.pick(peer(2), 4);
    expect(new Set(a.map((x) => x.piece)).size).toBe(1);
    expect(new Set(b.map((x) => x.piece)).size).toBe(1);
    expect(a[0]!.piece).not.toBe(b[0]!.piece);
  });

  it('computes block ranges, with a short last block and last piece', () => {
    const pk = new PiecePicker({
      pieceCount: 2,
      pieceLength: 40000,
      totalLength: 50000,
      random: seq(),
      endGameDuplicates: 1,
    });
    const all = pk.pick(peer(1), 100);
    const byPiece = (p: number): [number, number][] =>
      all.filter((b) => b.piece === p).map((b) => [b.begin, b.length]);
    expect(byPiece(0)).toEqual([
      [0, 16384],
      [16384, 16384],
      [32768, 40000 - 32768],
    ]);
    expect(byPiece(1)).toEqual([[0, 10000]]);
  });

  it('enters end game only when every missing block is requested, with bounded duplicates', () => {
    const pk = make(2, 2 * BLOCK_SIZE);
    const p1 = peer(1);
    const first = pk.pick(p1, 100);
    first.forEach((b) => p1.out.add(`${b.piece}:${b.block}`));
    expect(first).toHaveLength(4);
    expect(pk.inEndGame()).toBe(true);
    const dup = pk.pick(peer(2), 100);
    expect(dup).toHaveLength(4);
    expect(pk.pick(peer(3), 100)).toHaveLength(0); // at most 2 requests per block
    expect(pk.pick(p1, 100)).toHaveLength(0); // never twice to the same peer
  });

  it('completes a piece, and re-fetches a failed piece from a single peer, reporting senders', () => {
    const pk = make(1, 2 * BLOCK_SIZE);
    const [b0, b1] = pk.pick(peer(1), 2);
    expect(pk.blockReceived(0, b0!.block, 1)).toBe(Received.Accepted);
    expect(pk.blockReceived(0, b0!.block, 1)).toBe(Received.Unwanted);
    expect(pk.blockReceived(0, b1!.block, 2)).toBe(Received.PieceComplete);
    expect(pk.pieceFailed(0).sort()).toEqual([1, 2]);
    const p3 = peer(3);
    const again = pk.pick(p3, 1);
    expect(again).toHaveLength(1);
    again.forEach((b) => p3.out.add(`${b.piece}:${b.block}`));
    // exclusive: another peer may not help, even in end game
    expect(pk.pick(peer(4), 10)).toHaveLength(0);
    expect(pk.pick(p3, 10)).toHaveLength(1);
    pk.blockReceived(0, 0, 3);
    expect(pk.blockReceived(0, 1, 3)).toBe(Received.PieceComplete);
    pk.pieceVerified(0);
    expect(pk.complete).toBe(true);
    expect(pk.pick(peer(3), 10)).toHaveLength(0);
  });

  it('returns cancelled requests to the pool and frees pieces of departed peers', () => {
    const pk = make(1, 2 * BLOCK_SIZE);
    const got = pk.pick(peer(1), 2);
    for (const b of got) pk.requestCancelled(b.piece, b.block);
    expect(pk.pick(peer(2), 2)).toHaveLength(2);
  });

  it('only picks pieces the peer has', () => {
    const pk = make(8);
    const got = pk.pick(
      peer(1, (i) => i === 5),
      100,
    );
    expect(new Set(got.map((b) => b.piece))).toEqual(new Set([5]));
  });
});
