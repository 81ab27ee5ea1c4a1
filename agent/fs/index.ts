/** Crash-safe file writes and the data directory's lock, shared by every part that persists state. */
export {
  fsyncDirSync,
  isAtomicTemp,
  removeStaleTemps,
  removeStaleTempsSync,
  TEMP_MARK,
  writeFileAtomic,
  writeFileAtomicSync,
  type AtomicWriteOptions,
} from './atomic-write.js';
export {
  acquireDataDirLock,
  DataDirLock,
  DataDirLockedError,
  DEFAULT_LOCK_LEASE_MS,
  LOCK_FILE,
  lockHolderLive,
  parseLockHolder,
  type DataDirLockOptions,
  type LockHolder,
  type LockWorld,
} from './lock.js';
