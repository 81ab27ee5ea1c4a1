// The measuring helpers live in tools/ (bench:hostile uses them too); tests import them from here.
export {
  ATTACKS,
  fillByGossip,
  probeLookups,
  quantile,
  rssMb,
  runAttack,
  sampleRss,
} from '../../tools/hostile/probe.js';
