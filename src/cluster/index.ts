export { alwaysLeader, type LeaderElector, type LeadershipCallbacks } from './leader-elector.js';
export {
  createLeaderElection,
  defaultIdentity,
  type ElectionLog,
  type LeaderElectionOptions,
} from './leader-election.js';
export {
  createLeaseClient,
  type LeaderRecord,
  type LeaseClient,
  type ObservedLease,
} from './lease-client.js';
