import { listenPort, localAddresses, ownAddressIn, swarmAdvertise } from './entrypoint.js';

describe('container entrypoint: advertise address on Swarm', () => {
  it('finds the address a name resolves to that is one of this host’s own', async () => {
    const own = await ownAddressIn('localhost', localAddresses(), 1);
    expect(['127.0.0.1', '::1']).toContain(own);
  });

  it('finds nothing when the name lists no address of this host', async () => {
    expect(await ownAddressIn('localhost', new Set(['192.0.2.1']), 2, 10)).toBeUndefined();
  });

  it('takes the port from --listen or BTAGENT_LISTEN, else 6000', () => {
    expect(listenPort(['run', '--listen', '0.0.0.0:7000'], {})).toBe('7000');
    expect(listenPort(['run', '--listen=[::]:7001'], {})).toBe('7001');
    expect(listenPort(['run'], { BTAGENT_LISTEN: '0.0.0.0:7002' })).toBe('7002');
    expect(listenPort(['run'], {})).toBe('6000');
  });

  it('leaves an explicit advertise, or a non-Swarm start, alone', async () => {
    const swarm = { BTAGENT_SWARM_SERVICE: 'btagent' };
    expect(await swarmAdvertise(['run', '--advertise', 'a:1'], swarm, 1)).toBeUndefined();
    expect(await swarmAdvertise(['run', '--advertise=a:1'], swarm, 1)).toBeUndefined();
    expect(
      await swarmAdvertise(['run'], { ...swarm, BTAGENT_ADVERTISE: 'a:1' }, 1),
    ).toBeUndefined();
    expect(await swarmAdvertise(['run'], {}, 1)).toBeUndefined();
  });
});
