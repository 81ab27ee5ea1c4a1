import {
  MemberState,
  type ClusterMessage,
  type MemberUpdate,
} from '../../generated/btoverlay/v1/cluster.js';
import { InvalidArgumentError } from '../errors.js';
import { INCARNATION_LIMIT } from '../membership/incarnation.js';
import { envelopeFromWire, type MemberUpdateDrop } from './cluster-convert.js';

const LIMITS = { maxMembers: 64, maxRecords: 64, maxBuckets: 64 };

const update = (nodeId: string, incarnation: bigint, addr = '10.0.0.2:6000'): MemberUpdate => ({
  nodeId,
  addr,
  state: MemberState.MEMBER_STATE_ALIVE,
  incarnation,
  reporter: '',
});

describe('envelopeFromWire member updates', () => {
  it('drops a bad update on its own; the ping and the good updates still count', () => {
    const m: ClusterMessage = {
      fromId: 'a',
      fromAddr: '10.0.0.1:6000',
      members: [
        update('good', 5n),
        update('x', BigInt(Number.MAX_SAFE_INTEGER)),
        update('y', BigInt(INCARNATION_LIMIT) + 1n),
        update('bad id!', 1n),
        update('z', 1n, 'not an address'),
        update('edge', BigInt(INCARNATION_LIMIT)),
      ],
      records: [],
      ping: { seq: 7, target: 'b' },
    };
    const drops: MemberUpdateDrop[] = [];
    const env = envelopeFromWire(m, LIMITS, (reason) => drops.push(reason));
    expect(env.body).toEqual({ type: 'ping', seq: 7, target: 'b' });
    expect(env.members.map((u) => u.id)).toEqual(['good', 'edge']);
    expect(drops).toEqual(['incarnation', 'incarnation', 'malformed', 'malformed']);
  });

  it('still refuses a whole message whose sender is malformed or whose list is over the bound', () => {
    const base: ClusterMessage = {
      fromId: 'a',
      fromAddr: '10.0.0.1:6000',
      members: [],
      records: [],
    };
    expect(() => envelopeFromWire({ ...base, fromId: '' }, LIMITS)).toThrow(InvalidArgumentError);
    const many = Array.from({ length: 65 }, (_, i) => update(`n${i}`, 1n));
    expect(() => envelopeFromWire({ ...base, members: many }, LIMITS)).toThrow(/members/);
  });
});
