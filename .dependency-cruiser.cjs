/**
 * Import rules, checked by `npm run lint` (dependency-cruiser). Today's known
 * violations are listed in .dependency-cruiser-known-violations.json (made with
 * `npm run deps:baseline`): lint prints how many remain and fails on any new one.
 * Remove an entry by fixing it; never add one to get a change through.
 */

/** Files that are pure cores (no sockets, files or timers of their own; time and randomness are inputs). */
const PURE = [
  '^agent/store/',
  '^agent/membership/',
  '^agent/gossip/(node|repair|messages|config)\\.ts$',
  '^agent/legacy/codec\\.ts$',
  '^agent/torrent/(wire|picker|choker|bitfield|magnet|ut-metadata|udp-tracker-codec|ext-handshake)\\.ts$',
  '^agent/tracker/(bencode|compact|pick|query|reply|request|swarms)\\.ts$',
  '^agent/transport/(sniff|http1-head|http1-reply|connection-limit|grpc-inbound)\\.ts$',
  '^agent/security/(abuse|rate-limit|replay|sources|admin)\\.ts$',
];

/**
 * Folder cycles known today, as [folder, the folder it may still reach around a
 * cycle]. Each is to be cut (issue "Guard rails" item 5), then deleted from here.
 */
const KNOWN_FOLDER_CYCLES = [
  ['agent/gossip', 'agent/transport'], // gossip/driver.ts is wire code; transport/cluster-convert reads gossip's messages
  ['agent/transport', 'agent/gossip'],
];

/** The no-folder-cycles rules: one per folder with known cycles (exempting those), one for the rest. */
function folderCycleRules() {
  const from = [...new Set(KNOWN_FOLDER_CYCLES.map(([f]) => f))];
  const esc = (s) => s.replace(/[/]/g, '\\/');
  const rule = (name, fromPath, toPath) => ({
    name,
    comment:
      'A cycle between folders of agent/: a module and its dependency must not depend on each other.',
    severity: 'error',
    scope: 'folder',
    from: { path: fromPath },
    to: { path: toPath, circular: true },
  });
  return [
    rule(
      'no-folder-cycles',
      `^agent(/|$)(?!(${from.map((f) => f.slice(6)).join('|')})$)`,
      '^agent(/|$)',
    ),
    ...from.map((f) => {
      const allowed = KNOWN_FOLDER_CYCLES.filter(([a]) => a === f).map(([, b]) => esc(b));
      return rule('no-folder-cycles', `^${esc(f)}$`, `^(?!(${allowed.join('|')})$)agent(/|$)`);
    }),
  ];
}

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A cycle between files: neither side can be read, tested or moved alone.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    // Cycles between folders of agent/. dependency-cruiser cannot baseline folder-scope
    // violations, so today's known ones are written out here instead, as the folder
    // pairs exempted (KNOWN_FOLDER_CYCLES); every other folder cycle fails lint.
    ...folderCycleRules(),
    {
      name: 'pure-cores-no-io',
      comment: 'Pure cores take time, randomness and I/O as inputs; they open no sockets or files.',
      severity: 'error',
      from: { path: PURE },
      to: { path: ['^(node:)?(net|fs|fs/promises|dgram)$', '@grpc/grpc-js'] },
    },
    {
      name: 'control-not-agent',
      comment:
        'btctl and the client library speak the contract only; they never load the daemon (a shared BitTorrent-identifiers module will be the one exception).',
      severity: 'error',
      from: { path: '^control/' },
      to: { path: '^agent/' },
    },
    {
      name: 'generated-only-at-the-wire',
      comment:
        'Generated protobuf types stay at the gRPC and cluster wire code (agent/transport/); the rest of the agent works on its own types.',
      severity: 'error',
      from: { path: '^agent/', pathNot: '^agent/transport/' },
      to: { path: '^generated/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Tests may reach anywhere (they are not part of the layering); tools and
    // control are cruised with agent/.
    exclude: { path: ['^(dist|node_modules|test)/', '\\.test\\.ts$'] },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.d.ts'],
    },
  },
};
