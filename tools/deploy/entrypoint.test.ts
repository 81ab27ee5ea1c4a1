import {
  defaultRouteInterfaces,
  findOverlayAddress,
  inSubnet,
  listenPort,
  pickOverlayAddress,
  swarmAdvertise,
  type LocalAddress,
} from './entrypoint.js';

/** A Swarm task's interfaces as Docker lays them out: overlay eth0, docker_gwbridge eth1. */
const TASK: LocalAddress[] = [
  { iface: 'lo', address: '127.0.0.1', cidr: '127.0.0.1/8', internal: true },
  { iface: 'eth0', address: '198.19.129.3', cidr: '198.19.129.3/24', internal: false },
  { iface: 'eth1', address: '198.19.1.4', cidr: '198.19.1.4/24', internal: false },
];
/** The same task's /proc/net/route: the default route goes through docker_gwbridge. */
const ROUTES = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t00000000\t010113C6\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth1\t000113C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth0\t008113C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
`;
/** A task on a second network too (eth2): interfaces alone cannot tell which is the service's. */
const TWO_NETS: LocalAddress[] = [
  ...TASK,
  { iface: 'eth2', address: '198.19.130.7', cidr: '198.19.130.7/24', internal: false },
];

/** A fake clock and resolver: `answers` is what the DNS returns from attempt i on. */
function fakeDns(answers: { from: number; addrs: string[] }[]) {
  let t = 0;
  let attempts = 0;
  return {
    opts: {
      now: () => t,
      sleep: async (ms: number) => {
        t += ms;
      },
      resolve: async (name: string) => {
        if (name.startsWith('tasks.')) attempts++;
        const a = [...answers].reverse().find((x) => attempts > x.from);
        return name.startsWith('tasks.') && a ? a.addrs : [];
      },
      defaultIfaces: () => defaultRouteInterfaces(ROUTES),
    },
    elapsed: () => t,
    attempts: () => attempts,
  };
}

describe('container entrypoint: advertise address on Swarm', () => {
  it('reads the default-route interfaces from /proc/net/route', () => {
    expect([...defaultRouteInterfaces(ROUTES)]).toEqual(['eth1']);
    expect(defaultRouteInterfaces('Iface\tDestination\n').size).toBe(0);
  });

  it('tests IPv4 subnet membership', () => {
    expect(inSubnet('198.19.129.9', '198.19.129.3/24')).toBe(true);
    expect(inSubnet('198.19.130.9', '198.19.129.3/24')).toBe(false);
    expect(inSubnet('::1', '198.19.129.3/24')).toBe(false);
    expect(inSubnet('198.19.129.9', null)).toBe(false);
  });

  // The first start: Swarm lists a task in tasks.<service> only once it is healthy, which
  // needs the agent running, so DNS has nothing yet. The overlay interface is still known.
  it('takes the overlay interface (not the default route’s) while DNS lists nothing', () => {
    expect(pickOverlayAddress(TASK, defaultRouteInterfaces(ROUTES), [])).toEqual({
      address: '198.19.129.3',
      how: 'only-interface',
    });
  });

  it('prefers what tasks.<service> says: its own address, else the subnet of the others', () => {
    const routes = defaultRouteInterfaces(ROUTES);
    expect(pickOverlayAddress(TWO_NETS, routes, ['198.19.130.7', '198.19.130.8'])).toEqual({
      address: '198.19.130.7',
      how: 'dns',
    });
    expect(pickOverlayAddress(TWO_NETS, routes, ['198.19.129.5'])).toEqual({
      address: '198.19.129.3',
      how: 'subnet',
    });
    expect(pickOverlayAddress(TWO_NETS, routes, [])).toBeUndefined();
  });

  it('retries while ambiguous until another task (or the VIP) appears in DNS', async () => {
    const dns = fakeDns([{ from: 6, addrs: ['198.19.130.2'] }]);
    const got = await findOverlayAddress('btagent', { ...dns.opts, local: () => TWO_NETS });
    expect(got).toEqual({ address: '198.19.130.7', how: 'subnet' });
    expect(dns.attempts()).toBe(7);
    expect(dns.elapsed()).toBe(6 * 500);
  });

  it('gives up at the deadline when it stays ambiguous', async () => {
    const dns = fakeDns([]);
    const got = await findOverlayAddress('btagent', {
      ...dns.opts,
      local: () => TWO_NETS,
      deadlineMs: 30_000,
    });
    expect(got).toBeUndefined();
    expect(dns.elapsed()).toBe(30_000);
    expect(dns.attempts()).toBe(61);
  });

  it('advertises the overlay address with the listen port at once on a Swarm task', async () => {
    const dns = fakeDns([]);
    const swarm = { BTAGENT_SWARM_SERVICE: 'btagent' };
    const opts = { ...dns.opts, local: () => TASK };
    expect(await swarmAdvertise(['run', '--listen=0.0.0.0:6000'], swarm, opts)).toBe(
      '198.19.129.3:6000',
    );
    expect(dns.elapsed()).toBe(0);
  });

  it('takes the port from --listen or BTAGENT_LISTEN, else 6000', () => {
    expect(listenPort(['run', '--listen', '0.0.0.0:7000'], {})).toBe('7000');
    expect(listenPort(['run', '--listen=[::]:7001'], {})).toBe('7001');
    expect(listenPort(['run'], { BTAGENT_LISTEN: '0.0.0.0:7002' })).toBe('7002');
    expect(listenPort(['run'], {})).toBe('6000');
  });

  it('leaves an explicit advertise, or a non-Swarm start, alone', async () => {
    const swarm = { BTAGENT_SWARM_SERVICE: 'btagent' };
    const opts = { deadlineMs: 0 };
    expect(await swarmAdvertise(['run', '--advertise', 'a:1'], swarm, opts)).toBeUndefined();
    expect(await swarmAdvertise(['run', '--advertise=a:1'], swarm, opts)).toBeUndefined();
    expect(
      await swarmAdvertise(['run'], { ...swarm, BTAGENT_ADVERTISE: 'a:1' }, opts),
    ).toBeUndefined();
    expect(await swarmAdvertise(['run'], {}, opts)).toBeUndefined();
  });
});
