/** Crash-safe file writes shared by every part that persists state. */
export {
  isAtomicTemp,
  removeStaleTemps,
  removeStaleTempsSync,
  TEMP_MARK,
  writeFileAtomic,
  writeFileAtomicSync,
  type AtomicWriteOptions,
} from './atomic-write.js';
