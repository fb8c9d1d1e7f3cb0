// The station protocol: the only source of topics and message shapes for server and edge agent.
export * from './acl.ts';
export * from './conflict.ts';
export * from './envelope.ts';
export * from './group-merge.ts';
export * from './group-plans.ts';
export * from './limits.ts';
export * from './live.ts';
export * from './local-policy.ts';
export * from './messages.ts';
export * from './opus.ts';
export * from './plan-hash.ts';
export * from './proof-messages.ts';
export * from './relay.ts';
export * from './topics.ts';
