/**
 * btagent's entry point. `download` and `seed` (the peer-wire engine on its own) go
 * straight to the torrent commands: the daemon's command line defines its flags with the
 * gossip, security and tracker modules, ~0.07 CPU-s of loading that a download, whose
 * CPU per GiB is measured against aria2c's, should not pay.
 */
const command = process.argv[2];
if (command === 'download' || command === 'seed') {
  await import('./torrent/standalone.js');
} else {
  const { main } = await import('./program.js');
  await main(process.argv);
}

export {};
